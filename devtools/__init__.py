"""Development tools: the Cloudify Manager simulator, the local Slack stand-in and the scripted demo.

Installed with snapbot so `snapbot demo` and `snapbot simulator` work from a fresh clone; no product
module (bot/, handlers/) imports this package (tests/test_layers.py holds that).
"""
