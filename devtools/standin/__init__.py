"""A local Slack stand-in (Web API, response_url, Socket Mode) for the demo and the tests.

Plain aiohttp: nothing here imports slack_sdk or slack_bolt, so `bot/` stays Slack-library free.
"""
from devtools.standin.slack import AppResponse, Call, Event, SlackStandin, sign

__all__ = ["AppResponse", "Call", "Event", "SlackStandin", "sign"]
