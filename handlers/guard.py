"""What a request to POST /slack/events must pass before Bolt (or anything else) reads it.

An aiohttp middleware, self-contained: size first (1 MB, 413, from Content-Length before
reading), then Slack's v0 signature over the raw body with a numeric timestamp no older than
five minutes (401), then the body's shape (a form: a slash command naming its command, or a
`payload` that is a JSON object whose fields have the types Slack sends; an Events API JSON
object; 400 for anything else, including JSON nested too deep to decode), then the slash command's length (an
ephemeral answer saying so, before the parser sees it). Each refusal is one log line with a
fixed reason and the body's size: never the body, a header's value or a traceback, so an
unsigned request cannot grow the log or forge a line of it.

Bolt checks the signature again (harmless); its own INFO logging of bad requests, which
includes the body, no longer sees any, and `quiet_bolt` keeps the rest of its chatter out of
the log.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web

from bot.commands.parser import MAX_TEXT

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # bytes
MAX_COMMAND = MAX_TEXT  # characters of /cfy text (the parser's own cap)
MAX_AGE = 300  # seconds a signed request stays valid

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None,
           now: float) -> None:
    """Raise Refused(401) unless `signature` is Slack's v0 HMAC of `body` at `timestamp`."""
    if not timestamp or not signature:
        raise Refused(401, "missing signature headers")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Refused(401, "malformed timestamp")
    if abs(now - int(timestamp)) > MAX_AGE:
        raise Refused(401, "stale timestamp")
    if not secret:
        raise Refused(401, "no signing secret configured")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise Refused(401, "bad signature")


def check_shape(body: bytes, *, max_command: int = MAX_COMMAND) -> str | None:
    """Raise Refused(400) unless the body is what Slack sends; return a message for the user
    when a slash command's text is too long (None otherwise)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not a form") from None
    if text.startswith("{"):
        _event_check(text)
        return None
    if not text.startswith("payload=") and "&payload=" not in text:
        return _command_text_check(text, max_command)
    try:
        form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                              max_num_fields=200))
    except ValueError:
        raise Refused(400, "body is not a form") from None
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except RecursionError:
            raise Refused(400, "payload nested too deep") from None
        except ValueError:
            raise Refused(400, "payload is not JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "payload is not an object")
        _check_payload(payload)
        return None
    return None


def _event_check(text: str) -> None:
    """An Events API request: a JSON object of one of the types Slack sends."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused(400, "event nested too deep") from None
    except ValueError:
        raise Refused(400, "event is not JSON") from None
    if not isinstance(data, dict) or data.get("type") not in ("event_callback", "url_verification"):
        raise Refused(400, "not an Events API request")


#: fields of an interactive payload that are objects when present (null allowed), and those
#: that are strings
_OBJECTS = ("user", "team", "channel", "container", "enterprise", "message", "view", "state")
_STRINGS = ("response_url", "trigger_id", "api_app_id", "token")


def _check_payload(payload: dict[str, Any]) -> None:
    """Refuse(400) an interactive payload whose fields have shapes Slack never sends, before
    Bolt's matchers or a listener trip over them (a 500, or a 404 after Bolt's ack wait)."""
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise Refused(400, "payload has no type")
    for key in _OBJECTS:
        value = payload.get(key)
        if value is not None and not isinstance(value, dict):
            raise Refused(400, "payload field of the wrong type")
        if isinstance(value, dict) and not isinstance(value.get("id", ""), (str, type(None))):
            raise Refused(400, "payload field of the wrong type")
    if any(not isinstance(payload.get(key, ""), (str, type(None))) for key in _STRINGS):
        raise Refused(400, "payload field of the wrong type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(payload.get("user"), dict):
            raise Refused(400, "payload without actions or user")
        for action in actions:
            if not isinstance(action, dict) or not isinstance(action.get("action_id"), str) \
                    or any(not isinstance(action.get(k, ""), str)
                           for k in ("value", "block_id", "action_ts")):
                raise Refused(400, "payload action of the wrong shape")


def _command_text_check(text: str, max_command: int) -> str | None:
    """A slash command's form: only its `text` field is decoded, and only when its encoded
    length leaves doubt (a character is at most 12 encoded bytes: 4 UTF-8 bytes as %XX)."""
    fields = text.split("&") if text else []
    if len(fields) > 200 or any("=" not in f for f in fields):
        raise Refused(400, "body is not a form")
    if not any(f.startswith("command=") for f in fields):
        raise Refused(400, "neither a command nor a payload")
    raw = next((f[5:] for f in fields if f.startswith("text=")), "")
    if len(raw) <= max_command:
        return None
    n = len(unquote_plus(raw)) if len(raw) <= 12 * max_command else None
    if n is not None and n <= max_command:
        return None
    size = f"{n:,} characters" if n is not None else f"over {max_command:,} characters"
    return (f":warning: That command is {size} long; snapbot reads at most "
            f"{max_command:,}. Nothing was done. `/cfy help` lists the commands.")


def request_guard(signing_secret: str, *, paths: tuple[str, ...] = ("/slack/events",),
                  max_body: int = MAX_BODY, max_command: int = MAX_COMMAND,
                  clock: Callable[[], float] = time.time) -> Any:
    """The middleware for `web.Application(middlewares=[...])`; other paths pass untouched."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path not in paths:
            return await handler(request)
        size = request.content_length
        try:
            if size is not None and size > max_body:
                raise Refused(413, "body too large")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise Refused(413, "body too large") from None
            size = len(body)
            if size > max_body:
                raise Refused(413, "body too large")
            verify(signing_secret, body, request.headers.get("X-Slack-Request-Timestamp"),
                   request.headers.get("X-Slack-Signature"), clock())
            too_long = check_shape(body, max_command=max_command)
        except Refused as exc:
            # fixed words and numbers only: nothing the sender chose reaches the log
            log.warning("refused %s %s: %s (%s bytes)", request.method, request.path,
                        exc.reason, size if size is not None else "?")
            resp = web.json_response({"ok": False, "error": exc.reason}, status=exc.status)
            if exc.status == 413:
                resp.force_close()  # the unread rest of the body is not drained
            return resp
        if too_long is not None:
            log.info("refused a /cfy command of %d bytes: too long", size)
            return web.json_response({"response_type": "ephemeral", "text": too_long})
        return await handler(request)

    return guard


def quiet_bolt() -> None:
    """Bolt logs a badly signed request's whole body at INFO: keep its loggers at WARNING."""
    for name in ("slack_bolt", "slack_bolt.App", "slack_bolt.AsyncApp"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
