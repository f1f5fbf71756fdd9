"""Cloudify Manager REST API v3.1: the async client (`client`), its models, version facts.

Import the submodules themselves; this package module imports nothing (no cycle through it)."""
