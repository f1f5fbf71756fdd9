"""snapbot: back up and restore Cloudify Manager from a Slack channel.

`bot` is the domain. It knows nothing of Slack: no module here imports
slack_bolt, slack_sdk or `handlers` (tests/test_layers.py enforces it).
"""
