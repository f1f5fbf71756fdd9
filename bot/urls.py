"""URLs as they may be shown: in Slack, on a terminal, in the log."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def display_url(value: Any) -> str:
    """A URL as it may be shown in Slack, printed or logged: without user:password@ and
    without the query string or fragment (a token or a presigned URL's signature rides there).
    Other values unchanged."""
    text = str(value)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "(a URL that could not be parsed)"
    if parts.username or parts.password:
        netloc = "…@" + netloc
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, "…" if parts.fragment else ""))
