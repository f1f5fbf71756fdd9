"""A local, stateful stand-in for Slack, for the demo and the tests.

It plays both sides of Slack:

* **Slack's Web API** (`POST|GET {url}/api/<method>`, form or JSON bodies, token from the
  `Authorization: Bearer` header or a `token` field): `auth.test`, `chat.postMessage`,
  `chat.update`, `chat.postEphemeral`, `users.info`, `usergroups.users.list`,
  `apps.connections.open`, with Slack's response shapes and error codes (`not_authed`,
  `invalid_auth`, `channel_not_found`, `msg_too_long`, `invalid_blocks`, `no_text`,
  `message_not_found`, `user_not_found`, `no_such_subteam`, `not_allowed_token_type`).
  Messages are kept per channel with their ts, updated in place, threaded. One deliberate
  strictness: a reply to a thread_ts the stand-in never saw gets `thread_not_found` (a reply to an
  unknown card is a bug in tests).
  Every call is recorded in `calls`; `fail_next(method, n, status=429|5xx)` makes the next n
  calls of a method fail (429 with `Retry-After`); `fault_window([(status, seconds,
  retry_after), ...], speed=S)` makes Slack misbehave for a while, phase after phase, on a
  clock running S times faster than real time (a 60 s outage in 60/S real seconds);
  `on_call(method, action, nth=N)` runs `action` when the Nth call of a method arrives, before
  it is answered or takes effect (`kill_on` SIGKILLs a process there: the kill tests).
* **`response_url`s** (`POST {url}/response/<id>`), handed out with each command and click
  (`fail_responses(n, status=503)` makes the next n answers fail)
  (`POST {url}/_standin/response_url` hands one out to a client in another process).
* **Slack calling the app**: `send_command` (form-encoded slash command) and `click`
  (`block_actions` payload) signed with the v0 scheme (`sign`), carrying the stand-in's team,
  app and Enterprise Grid ids (what `auth.test` names; `origin=` makes one say it comes from
  elsewhere), and a Socket Mode WebSocket
  (`apps.connections.open` returns `ws://.../socket?ticket=...`) that pushes `slash_commands` and
  `interactive` envelopes and records the app's acks.

Everything a person would see is also appended to `events` (commands typed, messages posted,
updated, threaded, ephemeral), which is what the demo prints. Run it alone with
`python -m devtools.standin --port 3001`.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from bot.notifier import plain_text
from handlers.server import HttpServer, start_http

log = logging.getLogger(__name__)

MAX_TEXT = 40_000
MAX_BLOCKS = 50

#: Web API method -> handler name. Also the list of methods the stand-in implements.
METHODS = ("auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral", "users.info",
           "usergroups.users.list", "apps.connections.open", "conversations.history",
           "conversations.replies", "views.publish")
#: a Home tab view holds at most this many blocks (Slack: 100)
MAX_VIEW_BLOCKS = 100


def sign(secret: str, body: str | bytes, timestamp: str | int) -> str:
    """Slack's v0 request signature: `v0=` + HMAC-SHA256(secret, `v0:{timestamp}:{body}`)."""
    if isinstance(body, bytes):
        body = body.decode()
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Call:
    """One Web API call as the stand-in saw it."""
    method: str
    args: dict[str, Any]
    time: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class Event:
    """Something a person in the workspace would see (or did).

    kind: command | click | post | reply | update | ephemeral | home (a published Home tab)
    """
    kind: str
    channel: str
    user: str = ""  # who typed (command/click) or who sees it (ephemeral)
    text: str = ""  # the command text, or the message's fallback text
    message: dict[str, Any] = field(default_factory=dict)  # {"text", "blocks"}
    ts: str = ""
    thread_ts: str | None = None
    via: str = ""  # api | response_url | ack | socket_ack
    time: float = 0.0


@dataclass
class AppResponse:
    """The app's answer to a request Slack sent it."""
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class _FaultWindow:
    phases: list[tuple[int, float, float]]
    speed: float
    methods: frozenset[str]
    start: float
    answered: int = 0  # calls answered with a fault
    takes_effect: bool = False  # the call is carried out, only its answer is the fault

    @property
    def over(self) -> bool:
        total = sum(p[1] for p in self.phases)
        return (time.monotonic() - self.start) * self.speed >= total


@dataclass
class _CallHook:
    method: str
    action: Callable[[Call], Any]
    remaining: int
    match: Callable[[Call], bool] | None = None
    after: bool = False


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None = None  # the message a clicked button was on


class SlackStandin:
    """See the module docstring. `await SlackStandin(...).start()`; `await close()`."""

    def __init__(self, *, bot_token: str = "xoxb-standin", signing_secret: str = "standin-secret",
                 app_token: str = "xapp-standin", team_id: str = "T_SNAP", team_domain: str = "snapbot",
                 bot_user_id: str = "U_SNAPBOT", bot_id: str = "B_SNAPBOT", app_id: str = "A_SNAPBOT",
                 enterprise_id: str | None = None,
                 channels: dict[str, str] | None = None, users: dict[str, dict[str, Any]] | None = None,
                 usergroups: dict[str, list[str]] | None = None) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        #: an Enterprise Grid org the workspace belongs to (None: a workspace outside any org)
        self.enterprise_id = enterprise_id
        #: known channels (id -> name); None entries are created on first use when `strict_channels` is False
        self.channel_names: dict[str, str] = dict(channels or {"C_OPS": "ops"})
        self.strict_channels = False  # True: unknown channel ids get channel_not_found
        self.users: dict[str, dict[str, Any]] = dict(users or {})
        self.usergroups: dict[str, list[str]] = dict(usergroups or {})

        self.calls: list[Call] = []
        self.events: list[Event] = []
        self.messages_by_channel: dict[str, list[dict[str, Any]]] = {}
        self.response_posts: list[dict[str, Any]] = []  # every response_url post: {"id", "body", ...}
        self.home_views: dict[str, dict[str, Any]] = {}  # user -> their current Home tab view
        self.socket_acks: list[dict[str, Any]] = []
        self.listeners: list[Callable[[Event], None]] = []

        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._response_failures: list[int] = []
        self.response_failures_answered = 0
        self._windows: list[_FaultWindow] = []
        self._hooks: list[_CallHook] = []
        self._responses: dict[str, _ResponseTarget] = {}
        self._ts_counter = itertools.count(1)
        self._ts_base = int(time.time())
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.socket_connected = asyncio.Event()
        self._server: HttpServer | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackStandin:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/_standin/response_url", self._new_response_url)
        self._server = await start_http(app, host, port)
        self.url = self._server.url
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        for fut in self._pending_acks.values():
            if not fut.done():
                fut.cancel()
        if self._session is not None:
            await self._session.close()
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be set to (ends with '/', as slack_sdk wants)."""
        return self.url + "/api/"

    # ------------------------------------------------------------------ knobs
    def fail_next(self, method: str, n: int = 1, *, status: int = 429, retry_after: int = 1) -> None:
        """The next `n` calls of `method` answer `status` (429 carries `Retry-After`)."""
        self._failures.setdefault(method, []).extend([(status, retry_after)] * n)

    def fault_window(self, phases: list[tuple[int, float, float]], *, speed: float = 1.0,
                     methods: tuple[str, ...] = ("chat.postMessage", "chat.update", "chat.postEphemeral"),
                     takes_effect: bool = False) -> _FaultWindow:
        """From now on, `methods` answer each phase's status for its duration: `(429, 30, 2)` is
        30 s of 429 with `Retry-After: 2`, `(503, 30, 0)` 30 s of 503. Durations run on a clock
        `speed` times faster than real time (Retry-After is given in that clock's seconds, as
        the sender's own speed knob reads it). With `takes_effect`, each call is carried out
        (a post is stored) and only then answered with the fault, as when Slack stores a post
        and its front end answers 5xx. Returns the window (its `.answered` counts)."""
        window = _FaultWindow(phases=list(phases), speed=speed, methods=frozenset(methods),
                              start=time.monotonic(), takes_effect=takes_effect)
        self._windows.append(window)
        return window

    def on_call(self, method: str, action: Callable[[Call], Any], *, nth: int = 1,
                match: Callable[[Call], bool] | None = None, after: bool = False) -> None:
        """Run `action(call)` when the `nth` call of `method` (counted from now; only calls for
        which `match(call)` is true, if given) arrives, before it is answered; the call then
        takes no effect and is answered 503 (if anyone still listens). With `after`, the call
        takes effect first and `action` runs just before the answer is sent."""
        self._hooks.append(_CallHook(method=method, action=action, remaining=nth, match=match,
                                     after=after))

    def kill_on(self, method: str, pid: int, *, nth: int = 1,
                match: Callable[[Call], bool] | None = None, after: bool = False) -> None:
        """SIGKILL process `pid` when the `nth` (matching) call of `method` arrives, before it is
        answered or takes effect (`after`: once it took effect, before the answer)."""
        import os
        import signal

        def kill(call: Call) -> None:
            log.info("stand-in: killing pid %s on %s", pid, call.method)
            os.kill(pid, signal.SIGKILL)

        self.on_call(method, kill, nth=nth, match=match, after=after)

    def add_user(self, user_id: str, name: str, *, real_name: str = "", is_bot: bool = False,
                 tz: str = "UTC") -> None:
        self.users[user_id] = {"id": user_id, "name": name, "real_name": real_name or name,
                               "is_bot": is_bot, "tz": tz}

    def _fault(self, method: str) -> tuple[int, float, bool] | None:
        now = time.monotonic()
        for window in self._windows:
            if method not in window.methods:
                continue
            elapsed = (now - window.start) * window.speed
            for status, seconds, retry_after in window.phases:
                if elapsed < seconds:
                    window.answered += 1
                    return status, retry_after, window.takes_effect
                elapsed -= seconds
        return None

    # ------------------------------------------------------------------ queries
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str, *, thread_ts: str | None = None,
                 top_level: bool = False) -> list[dict[str, Any]]:
        """Messages currently in a channel (latest content), oldest first. `thread_ts` filters
        to a thread's replies; `top_level` to messages that are not replies."""
        out = self.messages_by_channel.get(channel, [])
        if thread_ts is not None:
            out = [m for m in out if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]
        elif top_level:
            out = [m for m in out if not m.get("thread_ts") or m.get("thread_ts") == m["ts"]]
        return list(out)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self.messages_by_channel.get(channel, []):
            if m["ts"] == ts:
                return m
        return None

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        """What only one person saw: chat.postEphemeral, ephemeral response_url posts and the
        content of command acks, as `{"text", "blocks", "user", "channel", "via"}`."""
        return [dict(e.message, user=e.user, channel=e.channel, via=e.via) for e in self.events
                if e.kind == "ephemeral" and (user is None or e.user == user)]

    def responses(self) -> list[dict[str, Any]]:
        """Every response_url post, in order (the body as sent, plus `channel`/`user`)."""
        return list(self.response_posts)

    def texts(self, *, channel: str | None = None, user: str | None = None) -> list[str]:
        """Plain text of everything the bot said (posts, replies, updates, ephemerals), in order."""
        out = []
        for e in self.events:
            if e.kind in ("command", "click"):
                continue
            if channel is not None and e.channel != channel:
                continue
            if user is not None and e.kind == "ephemeral" and e.user != user:
                continue
            out.append(render_text(e.message))
        return out

    def find_button(self, action_id: str, value: str | None = None) -> tuple[dict[str, Any], dict[str, Any], str] | None:
        """The newest message carrying a button (`action_id`, `value`): (message, element, block_id)."""
        candidates = [m for msgs in self.messages_by_channel.values() for m in msgs]
        candidates += [dict(e.message, ts=e.ts or "", channel=e.channel) for e in self.events
                       if e.kind == "ephemeral"]
        for m in reversed(candidates):
            for block in m.get("blocks") or []:
                if block.get("type") != "actions":
                    continue
                for el in block.get("elements") or []:
                    if el.get("action_id") == action_id and (value is None or el.get("value") == value):
                        return m, el, block.get("block_id", "")
        return None

    # ------------------------------------------------------------------ Web API
    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        call = Call(method, _redact(args), time.time())
        self.calls.append(call)
        after_hook: _CallHook | None = None
        for hook in list(self._hooks):
            if hook.method != method or (hook.match is not None and not hook.match(call)):
                continue
            hook.remaining -= 1
            if hook.remaining == 0 and hook.after:
                self._hooks.remove(hook)
                after_hook = hook
                break
            if hook.remaining == 0:
                self._hooks.remove(hook)
                call.status = 503
                call.response = {"ok": False, "error": "hooked"}
                result = hook.action(call)
                if asyncio.iscoroutine(result):
                    await result
                return web.Response(status=503, text="hooked")
        fault = self._fault(method)
        if fault is not None and fault[2]:  # carried out, then answered with the fault
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is not None and token == self.bot_token:
                handler(args)
        if fault is not None:
            status, retry_after, _ = fault
            call.status = status
            if status == 429:
                call.response = {"ok": False, "error": "ratelimited"}
                return web.json_response(call.response, status=429,
                                         headers={"Retry-After": str(max(0, round(retry_after)))})
            call.response = {"ok": False, "error": "service_unavailable"}
            return web.Response(status=status, text="upstream error")
        failures = self._failures.get(method)
        if failures:
            status, retry_after = failures.pop(0)
            call.status = status
            if status == 429:
                call.response = {"ok": False, "error": "ratelimited"}
                # Slack sends whole seconds
                return web.json_response(call.response, status=429,
                                         headers={"Retry-After": str(max(0, round(retry_after)))})
            call.response = {"ok": False, "error": "internal_error"}
            return web.Response(status=status, text="upstream error")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            call.response = {"ok": False, "error": "unknown_method"}
            return web.json_response(call.response, status=404)
        if not token:
            call.response = {"ok": False, "error": "not_authed"}
        elif method == "apps.connections.open":
            if token != self.app_token:
                call.response = {"ok": False, "error": "not_allowed_token_type" if token == self.bot_token else "invalid_auth"}
            else:
                call.response = handler(args)
        elif token != self.bot_token:
            call.response = {"ok": False, "error": "invalid_auth"}
        else:
            call.response = handler(args)
        if after_hook is not None:
            result = after_hook.action(call)
            if asyncio.iscoroutine(result):
                await result
        return web.json_response(call.response)

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        out = {"ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": self.team_domain,
               "user": "snapbot", "team_id": self.team_id, "user_id": self.bot_user_id,
               "bot_id": self.bot_id, "is_enterprise_install": False}
        if self.enterprise_id:  # Slack adds it for a workspace in an Enterprise Grid org
            out["enterprise_id"] = self.enterprise_id
        return out

    def _check_channel(self, channel: Any) -> str | None:
        if not channel or not isinstance(channel, str):
            return "channel_not_found"
        if channel in self.channel_names:
            return None
        if self.strict_channels or channel[0] not in "CGD":
            return "channel_not_found"
        self.channel_names[channel] = channel.lower()
        return None

    def _check_content(self, args: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return None, "invalid_blocks_format"
        text = args.get("text") or ""
        if not text and not blocks:
            return None, "no_text"
        if len(text) > MAX_TEXT:
            return None, "msg_too_long"
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
                return None, "invalid_blocks"
            for b in blocks:
                if not isinstance(b, dict) or "type" not in b:
                    return None, "invalid_blocks"
        msg: dict[str, Any] = {"text": text}
        if blocks:
            msg["blocks"] = blocks
        return msg, None

    def _next_ts(self) -> str:
        return f"{self._ts_base}.{next(self._ts_counter):06d}"

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        err = self._check_channel(channel)
        if err:
            return {"ok": False, "error": err}
        content, err = self._check_content(args)
        if err:
            return {"ok": False, "error": err}
        thread_ts = args.get("thread_ts") or None
        if thread_ts and self.message(channel, thread_ts) is None:
            return {"ok": False, "error": "thread_not_found"}
        ts = self._next_ts()
        msg = self._store(channel, ts, content, thread_ts)  # type: ignore[arg-type]
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return {"ok": False, "error": "invalid_metadata_format"}
        if metadata:
            msg["metadata"] = metadata
        self._emit(Event("reply" if thread_ts else "post", channel, text=msg["text"],
                         message=content, ts=ts, thread_ts=thread_ts, via="api"))  # type: ignore[arg-type]
        return {"ok": True, "channel": channel, "ts": ts, "message": _public(msg)}

    def _store(self, channel: str, ts: str, content: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        msg = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "ts": ts,
               "channel": channel, "text": content.get("text", ""), "blocks": content.get("blocks") or [],
               "edits": 0}
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self.message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages_by_channel.setdefault(channel, []).append(msg)
        return msg

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        err = self._check_channel(channel)
        if err:
            return {"ok": False, "error": err}
        msg = self.message(channel, args.get("ts") or "")  # type: ignore[arg-type]
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        content, err = self._check_content(args)
        if err:
            return {"ok": False, "error": err}
        msg["text"] = content["text"]  # type: ignore[index]
        msg["blocks"] = content.get("blocks") or []  # type: ignore[union-attr]
        msg["edits"] += 1
        self._emit(Event("update", channel, text=msg["text"], message=content, ts=msg["ts"],  # type: ignore[arg-type]
                         thread_ts=msg.get("thread_ts"), via="api"))
        return {"ok": True, "channel": channel, "ts": msg["ts"], "text": msg["text"], "message": _public(msg)}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        err = self._check_channel(channel)
        if err:
            return {"ok": False, "error": err}
        user = args.get("user")
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        content, err = self._check_content(args)
        if err:
            return {"ok": False, "error": err}
        ts = self._next_ts()
        self._emit(Event("ephemeral", channel, user=user, text=content["text"], message=content,  # type: ignore[index,arg-type]
                         ts=ts, via="api"))
        return {"ok": True, "message_ts": ts}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's views.publish: a user's Home tab (`view` JSON, type home, <= 100 blocks)."""
        user = args.get("user_id")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
            return {"ok": False, "error": "invalid_blocks"}
        self.home_views[user] = view
        text = "\n".join(str((b.get("text") or {}).get("text", "")) for b in blocks
                         if isinstance(b, dict) and b.get("type") in ("section", "header"))
        self._emit(Event("home", "", user=user, text=text, message=view, via="api"))
        view_id = f"VHOME{user}"
        return {"ok": True, "view": {**view, "id": view_id, "team_id": self.team_id}}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages newest first (`oldest` bounds them; metadata only when
        `include_all_metadata` is set, as Slack does)."""
        channel = args.get("channel")
        err = self._check_channel(channel)
        if err:
            return {"ok": False, "error": err}
        oldest = float(args.get("oldest") or 0)
        msgs = [m for m in self.messages(channel, top_level=True) if float(m["ts"]) >= oldest]  # type: ignore[arg-type]
        limit = int(args.get("limit") or 100)
        return {"ok": True, "messages": [self._shown(m, args) for m in reversed(msgs)][:limit],
                "has_more": False}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then the replies oldest first."""
        channel = args.get("channel")
        err = self._check_channel(channel)
        if err:
            return {"ok": False, "error": err}
        parent = self.message(channel, args.get("ts") or "")  # type: ignore[arg-type]
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = self.messages(channel, thread_ts=parent["ts"])  # type: ignore[arg-type]
        return {"ok": True, "messages": [self._shown(m, args) for m in [parent, *replies]],
                "has_more": False}

    @staticmethod
    def _shown(msg: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        out = _public(msg)
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            out.pop("metadata", None)
        return out

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = args.get("user") or ""
        user = self.users.get(uid)
        if user is None:
            if not uid.startswith(("U", "W")):
                return {"ok": False, "error": "user_not_found"}
            user = {"id": uid, "name": uid.lower(), "real_name": uid, "is_bot": False, "tz": "UTC"}
        profile = {"real_name": user["real_name"], "display_name": user["name"]}
        return {"ok": True, "user": dict(user, team_id=self.team_id, deleted=False, profile=profile)}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup") or ""
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://") + f"/socket?ticket={ticket}"
        return {"ok": True, "url": ws_url}

    # ------------------------------------------------------------------ response_url
    def new_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        rid = uuid.uuid4().hex
        self._responses[rid] = _ResponseTarget(channel, user, message_ts)
        return f"{self.url}/response/{rid}"

    async def _new_response_url(self, request: web.Request) -> web.Response:
        """Control endpoint (not Slack's): a fresh response_url for {"channel", "user"}, for
        clients in another process (the ack-latency benchmark)."""
        body = await request.json()
        return web.json_response({"url": self.new_response_url(body.get("channel", "C_OPS"), body.get("user", ""),
                                                               body.get("message_ts"))})

    def fail_responses(self, n: int = 1, *, status: int = 503) -> None:
        """The next `n` posts to any response_url answer `status` and take no effect."""
        self._response_failures.extend([status] * n)

    async def _response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        target = self._responses.get(rid)
        if self._response_failures:
            status = self._response_failures.pop(0)
            self.response_failures_answered += 1
            return web.Response(status=status, text="upstream error")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if target is None:
            return web.Response(status=404, text="expired_url")
        self.response_posts.append(dict(body, id=rid, channel=target.channel, user=target.user))
        content = {k: body[k] for k in ("text", "blocks") if body.get(k)}
        if not content:
            if body.get("delete_original") and target.message_ts:
                self.messages_by_channel[target.channel] = [
                    m for m in self.messages_by_channel.get(target.channel, []) if m["ts"] != target.message_ts]
            return web.Response(text="ok")
        if len(content.get("text", "")) > MAX_TEXT:
            return web.Response(status=400, text="msg_too_long")
        if len(content.get("blocks") or []) > MAX_BLOCKS:
            return web.Response(status=400, text="invalid_blocks")
        replace = body.get("replace_original")
        if replace and target.message_ts and (msg := self.message(target.channel, target.message_ts)):
            msg["text"] = content.get("text", "")
            msg["blocks"] = content.get("blocks") or []
            msg["edits"] += 1
            self._emit(Event("update", target.channel, text=msg["text"], message=content, ts=msg["ts"],
                             via="response_url"))
        elif body.get("response_type") == "in_channel":
            ts = self._next_ts()
            thread_ts = body.get("thread_ts")
            self._store(target.channel, ts, content, thread_ts)
            self._emit(Event("reply" if thread_ts else "post", target.channel, text=content.get("text", ""),
                             message=content, ts=ts, thread_ts=thread_ts, via="response_url"))
        else:
            self._emit(Event("ephemeral", target.channel, user=target.user, text=content.get("text", ""),
                             message=content, via="response_url"))
        return web.Response(text="ok")

    # ------------------------------------------------------------------ calling the app (HTTP)
    def _origin(self, origin: dict[str, str | None] | None) -> tuple[str, str, str | None]:
        """(team_id, api_app_id, enterprise_id) a request carries: the stand-in's own, or what
        `origin` overrides (`{"team_id": "T_OTHER"}`: as if from another workspace)."""
        origin = origin or {}
        unknown = set(origin) - {"team_id", "app_id", "enterprise_id"}
        if unknown:
            raise ValueError(f"unknown origin keys: {sorted(unknown)}")
        return (origin.get("team_id", self.team_id) or "", origin.get("app_id", self.app_id) or "",
                origin.get("enterprise_id", self.enterprise_id))

    def command_body(self, text: str, *, user: str, channel: str = "C_OPS", command: str = "/cfy",
                     trigger_id: str | None = None, user_name: str | None = None,
                     origin: dict[str, str | None] | None = None) -> str:
        """A slash command's form body, as Slack sends it (`origin`: see `_origin`)."""
        team_id, app_id, enterprise_id = self._origin(origin)
        fields = {
            "token": "deprecated-verification-token",
            "team_id": team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self.channel_names.get(channel, channel.lower()),
            "user_id": user,
            "user_name": user_name or self.users.get(user, {}).get("name", user.lower()),
            "command": command,
            "text": text,
            "api_app_id": app_id,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url(channel, user),
            "trigger_id": trigger_id or f"{next(self._ts_counter)}.{uuid.uuid4().hex[:12]}",
        }
        if enterprise_id:
            fields.update(enterprise_id=enterprise_id, enterprise_name=enterprise_id.lower())
        return urlencode(fields)

    async def send_command(self, app_url: str, text: str, *, user: str, channel: str = "C_OPS",
                           command: str = "/cfy", body: str | None = None, timestamp: int | None = None,
                           secret: str | None = None, signature: str | None = None,
                           retry_num: int | None = None, retry_reason: str = "http_timeout",
                           trigger_id: str | None = None,
                           origin: dict[str, str | None] | None = None) -> AppResponse:
        """POST a signed slash command to the app (`app_url` is its /slack/events URL).

        `body` resends an earlier body as-is (a retry); `timestamp`, `secret`, `signature` forge
        what Slack would not send. Text of an answered ack is recorded as an ephemeral event."""
        body = body or self.command_body(text, user=user, channel=channel, command=command,
                                         trigger_id=trigger_id, origin=origin)
        form = dict(parse_qsl(body))
        self._emit(Event("command", form.get("channel_id", channel), user=form.get("user_id", user),
                         text=f"{form.get('command', command)} {form.get('text', text)}".strip(), via="http"))
        resp = await self._post_signed(app_url, body, "application/x-www-form-urlencoded", timestamp=timestamp,
                                       secret=secret, signature=signature, retry_num=retry_num,
                                       retry_reason=retry_reason)
        self._record_ack(resp, form.get("channel_id", channel), form.get("user_id", user))
        return resp

    def click_body(self, action_id: str, value: str, *, user: str, channel: str | None = None,
                   message: dict[str, Any] | None = None, block_id: str | None = None,
                   origin: dict[str, str | None] | None = None) -> str:
        team_id, app_id, enterprise_id = self._origin(origin)
        found = None if message is not None else self.find_button(action_id, value)
        element: dict[str, Any] = {}
        if found is not None:
            message, element, found_block = found
            block_id = block_id or found_block
        message = message or {}
        channel = channel or message.get("channel") or "C_OPS"
        message_ts = message.get("ts") or None
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
            "api_app_id": app_id,
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": False},
            "trigger_id": f"{next(self._ts_counter)}.{uuid.uuid4().hex[:12]}",
            "team": {"id": team_id, "domain": self.team_domain},
            "enterprise": {"id": enterprise_id, "name": enterprise_id.lower()} if enterprise_id else None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self.channel_names.get(channel, channel.lower())},
            "message": _public(message) if message else {},
            "state": {"values": {}},
            "response_url": self.new_response_url(channel, user, message_ts),
            "actions": [{
                "action_id": action_id,
                "block_id": block_id or "actions",
                "text": element.get("text") or {"type": "plain_text", "text": action_id},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }],
        }
        return urlencode({"payload": json.dumps(payload)})

    async def click(self, app_url: str, action_id: str, value: str, *, user: str,
                    channel: str | None = None, message: dict[str, Any] | None = None,
                    block_id: str | None = None, timestamp: int | None = None,
                    secret: str | None = None, signature: str | None = None,
                    origin: dict[str, str | None] | None = None) -> AppResponse:
        """POST a signed `block_actions` payload: `user` clicked the button `action_id`/`value`
        (on `message`, or on the newest message that has that button)."""
        body = self.click_body(action_id, value, user=user, channel=channel, message=message,
                               block_id=block_id, origin=origin)
        payload = json.loads(dict(parse_qsl(body))["payload"])
        label = payload["actions"][0]["text"].get("text", action_id)
        self._emit(Event("click", payload["channel"]["id"], user=user, text=f"[{label}]", via="http"))
        return await self._post_signed(app_url, body, "application/x-www-form-urlencoded",
                                       timestamp=timestamp, secret=secret, signature=signature)

    def event_body(self, event: dict[str, Any], *,
                   origin: dict[str, str | None] | None = None) -> dict[str, Any]:
        """An Events API `event_callback` carrying `event`, as Slack sends it."""
        team_id, app_id, enterprise_id = self._origin(origin)
        return {"token": "deprecated-verification-token", "team_id": team_id, "api_app_id": app_id,
                "enterprise_id": enterprise_id, "type": "event_callback", "event": event,
                "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
                "authorizations": [{"team_id": team_id, "user_id": self.bot_user_id,
                                    "is_bot": True, "enterprise_id": enterprise_id}]}

    async def send_event(self, app_url: str, event: dict[str, Any], *,
                         origin: dict[str, str | None] | None = None) -> AppResponse:
        """POST a signed Events API `event_callback` carrying `event` to the app."""
        return await self._post_signed(app_url, json.dumps(self.event_body(event, origin=origin)),
                                       "application/json", timestamp=None, secret=None,
                                       signature=None)

    @staticmethod
    def home_opened(user: str, view: dict[str, Any] | None = None) -> dict[str, Any]:
        """Slack's `app_home_opened` event for `user` (their current view, if any)."""
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": f"D{user}",
                                 "tab": "home", "event_ts": f"{time.time():.6f}"}
        if view is not None:
            event["view"] = view
        return event

    async def socket_home(self, user: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """`user` opens the Home tab, delivered over Socket Mode (an `events_api` envelope)."""
        body = self.event_body(self.home_opened(user, self.home_views.get(user)))
        return await self.push_envelope("events_api", body, accepts_response_payload=False,
                                        timeout=timeout)

    async def open_home(self, app_url: str, user: str) -> AppResponse:
        """`user` opens the app's Home tab: Slack's `app_home_opened` event."""
        return await self.send_event(app_url, self.home_opened(user, self.home_views.get(user)))

    async def click_home(self, app_url: str, action_id: str, value: str, *, user: str,
                         block_id: str | None = None) -> AppResponse:
        """`user` clicks a button on their Home tab (a `block_actions` from a view: no channel,
        no response_url)."""
        team_id, app_id, _ = self._origin(None)
        view = self.home_views.get(user) or {"type": "home", "blocks": []}
        found_block = block_id
        for block in view.get("blocks") or []:
            for el in block.get("elements") or []:
                if el.get("action_id") == action_id and el.get("value") == value:
                    found_block = found_block or block.get("block_id")
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
            "api_app_id": app_id, "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": f"VHOME{user}"},
            "trigger_id": f"{next(self._ts_counter)}.{uuid.uuid4().hex[:12]}",
            "team": {"id": team_id, "domain": self.team_domain}, "view": view,
            "actions": [{"action_id": action_id, "block_id": found_block or "actions",
                         "text": {"type": "plain_text", "text": action_id}, "value": value,
                         "type": "button", "action_ts": f"{time.time():.6f}"}],
        }
        self._emit(Event("click", "", user=user, text=f"[{action_id}] (Home)", via="http"))
        return await self._post_signed(app_url, urlencode({"payload": json.dumps(payload)}),
                                       "application/x-www-form-urlencoded", timestamp=None,
                                       secret=None, signature=None)

    async def _post_signed(self, url: str, body: str, content_type: str, *, timestamp: int | None,
                           secret: str | None, signature: str | None, retry_num: int | None = None,
                           retry_reason: str = "http_timeout") -> AppResponse:
        assert self._session is not None, "start() the stand-in first"
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(secret or self.signing_secret, body, ts),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        async with self._session.post(url, data=body.encode(), headers=headers) as resp:
            return AppResponse(resp.status, await resp.text(), dict(resp.headers))

    def _record_ack(self, resp: AppResponse, channel: str, user: str) -> None:
        if resp.status != 200 or not resp.text:
            return
        try:
            body = json.loads(resp.text)
        except ValueError:
            body = {"text": resp.text}
        if not isinstance(body, dict):
            return
        content = {k: body[k] for k in ("text", "blocks") if body.get(k)}
        if not content:
            return
        if body.get("response_type") == "in_channel":
            ts = self._next_ts()
            self._store(channel, ts, content, None)
            self._emit(Event("post", channel, text=content.get("text", ""), message=content, ts=ts, via="ack"))
        else:
            self._emit(Event("ephemeral", channel, user=user, text=content.get("text", ""), message=content,
                             via="ack"))

    # ------------------------------------------------------------------ Socket Mode
    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "standin", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": self.app_id}})
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                eid = data.get("envelope_id")
                if not eid:
                    continue
                self.socket_acks.append(data)
                fut = self._pending_acks.pop(eid, None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
        return ws

    async def push_envelope(self, env_type: str, payload: dict[str, Any], *, accepts_response_payload: bool = True,
                            timeout: float = 10.0) -> dict[str, Any]:
        """Send an envelope over the newest Socket Mode connection and wait for the app's ack."""
        await asyncio.wait_for(self.socket_connected.wait(), timeout)
        ws = self._sockets[-1]
        eid = str(uuid.uuid4())
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[eid] = fut
        await ws.send_json({"envelope_id": eid, "type": env_type, "payload": payload,
                            "accepts_response_payload": accepts_response_payload, "retry_attempt": 0,
                            "retry_reason": ""})
        return await asyncio.wait_for(fut, timeout)

    async def socket_command(self, text: str, *, user: str, channel: str = "C_OPS", command: str = "/cfy",
                             timeout: float = 10.0,
                             origin: dict[str, str | None] | None = None) -> dict[str, Any]:
        """A slash command over Socket Mode. Returns the ack envelope (its `payload` is the ack body)."""
        payload = dict(parse_qsl(self.command_body(text, user=user, channel=channel, command=command,
                                                   origin=origin)))
        self._emit(Event("command", channel, user=user, text=f"{command} {text}".strip(), via="socket"))
        ack = await self.push_envelope("slash_commands", payload, timeout=timeout)
        body = ack.get("payload")
        if isinstance(body, dict):
            self._record_ack(AppResponse(200, json.dumps(body)), channel, user)
        return ack

    async def socket_click(self, action_id: str, value: str, *, user: str, channel: str | None = None,
                           timeout: float = 10.0,
                           origin: dict[str, str | None] | None = None) -> dict[str, Any]:
        payload = json.loads(dict(parse_qsl(self.click_body(action_id, value, user=user, channel=channel,
                                                            origin=origin)))["payload"])
        self._emit(Event("click", payload["channel"]["id"], user=user,
                         text=f"[{payload['actions'][0]['text'].get('text', action_id)}]", via="socket"))
        return await self.push_envelope("interactive", payload, accepts_response_payload=False, timeout=timeout)

    # ------------------------------------------------------------------ events
    def _emit(self, event: Event) -> None:
        event.time = time.time()
        self.events.append(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("stand-in listener failed")


def render_text(message: dict[str, Any]) -> str:
    """Block Kit to plain text, as a person reading the channel would see it."""
    return plain_text(message)


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(dict(await request.post()))
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                pass
    return args


def _redact(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in ("token", "client_secret")}


def _public(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k not in ("edits", "channel")}


async def _serve(host: str, port: int, bot_token: str, signing_secret: str, app_token: str,
                 team_id: str, app_id: str, enterprise_id: str | None) -> None:
    standin = SlackStandin(bot_token=bot_token, signing_secret=signing_secret, app_token=app_token,
                           team_id=team_id, app_id=app_id, enterprise_id=enterprise_id)
    await standin.start(host, port)
    standin.listeners.append(lambda e: print(f"[{e.kind}] {e.channel} {e.user} {render_text(e.message) or e.text}",
                                             flush=True))
    print(f"Slack stand-in on {standin.url} (SLACK_API_URL={standin.api_url})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.standin", description="local Slack stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3001)
    ap.add_argument("--bot-token", default="xoxb-standin")
    ap.add_argument("--signing-secret", default="standin-secret")
    ap.add_argument("--app-token", default="xapp-standin")
    ap.add_argument("--team-id", default="T_SNAP", help="the workspace auth.test names")
    ap.add_argument("--app-id", default="A_SNAPBOT", help="the app id requests carry")
    ap.add_argument("--enterprise-id", default=None, help="an Enterprise Grid org id (default: none)")
    args = ap.parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port, args.bot_token, args.signing_secret, args.app_token,
                           args.team_id, args.app_id, args.enterprise_id))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
