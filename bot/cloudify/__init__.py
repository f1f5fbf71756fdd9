"""Async client for Cloudify Manager's REST API v3.1."""
from bot.cloudify.client import CloudifyClient  # noqa: F401
