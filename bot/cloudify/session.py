"""The HTTP session under `CloudifyClient`: construction (auth, TLS, tenant), credentials
re-read from a file on 401, one request with typed errors (`_send`), retries of idempotent
requests on the injected sleep (`_request`), and paginated lists (`_list`)."""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypedDict
from urllib.parse import urlsplit

import httpx

from bot.cloudify.errors import error_from_response, quiet_httpx_urls, unreachable
from bot.cloudify.models import items_of, pagination_total
from bot.errors import ConfigError, ManagerUnavailable

logger = logging.getLogger("bot.cloudify")

API_PREFIX = "/api/v3.1"
CHUNK = 1024 * 1024

Sleep = Callable[[float], Awaitable[None]]


class SessionOptions(TypedDict, total=False):
    """`ManagerSession`'s keyword arguments (see its constructor), for those who build one."""

    name: str
    username: str
    password: str
    token: str
    tenant: str
    ca_bundle: str | None
    verify_tls: bool
    transport: httpx.AsyncBaseTransport | None
    timeout: float
    retries: int
    backoff: float
    max_backoff: float
    sleep: Sleep | None
    chunk_size: int
    password_file: str | None
    token_file: str | None
    snapshot_format: str


def _default_name(base_url: str) -> str:
    """host[:port] of the manager URL (never its userinfo), when no name is given."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or base_url
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "manager"


def _resendable(content: Any) -> bool:
    """A body that can be sent twice (not a stream already consumed)."""
    return content is None or isinstance(content, (bytes, str))


class ManagerSession:
    """The HTTP side of a client: one manager, one tenant, its credentials (re-read from a file
    on 401), requests with retries on the injected sleep, and paginated lists."""

    def __init__(self, base_url: str, *, name: str = "", username: str = "admin", password: str = "",
                 token: str = "", tenant: str = "default_tenant", ca_bundle: str | None = None,
                 verify_tls: bool = True, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                 max_backoff: float = 10.0, sleep: Sleep | None = None,
                 chunk_size: int = CHUNK, password_file: str | None = None,
                 token_file: str | None = None, snapshot_format: str = "auto") -> None:
        """`base_url` is the manager root (e.g. http://127.0.0.1:8100); /api/v3.1 is appended.

        `name` is the manager's configured name (default: host[:port] of the URL); every error
        this client raises carries it as `.manager`, so messages can say which manager failed.
        `retries`/`backoff` apply to idempotent GETs that hit `ManagerUnavailable` (exponential,
        capped at `max_backoff`); `sleep` is awaited for each backoff so tests need not wait.
        `password_file` / `token_file`: where the secret lives; on a 401 the file is read again
        and, when it holds a new secret, the request is sent once more with it (after a legacy
        restore the manager's users and tokens are the snapshot's).
        `snapshot_format` ("auto", "legacy", "new"): what `create_snapshot` makes when the caller
        does not say (see `bot.cloudify.versions`).
        """
        self.base_url = base_url.rstrip("/")
        self.name = name or _default_name(self.base_url)
        quiet_httpx_urls()
        self.tenant = tenant
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.chunk_size = chunk_size
        #: how many times a download cut half-way is taken up again before the job fails
        self.download_retries = 3
        self._sleep: Sleep = sleep or asyncio.sleep
        self._username = username
        self._password_file = password_file
        self._token_file = token_file
        self._secret = token or password
        self.snapshot_format = snapshot_format
        headers = {"Tenant": tenant}
        auth: httpx.Auth | None = None
        if token:
            headers["Authentication-Token"] = token
        else:
            auth = httpx.BasicAuth(username, password)
        verify: ssl.SSLContext | bool
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError("ca_bundle", f"cannot load the CA bundle {ca_bundle}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
        else:
            verify = verify_tls
        self.http = httpx.AsyncClient(base_url=self.base_url + API_PREFIX, auth=auth,
                                       headers=headers, verify=verify, transport=transport,
                                       timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.base_url!r}, tenant={self.tenant!r})"

    async def aclose(self) -> None:
        await self.http.aclose()

    def reload_credentials(self) -> bool:
        """Read the password/token file again; True when it held a new secret (now in use).

        Without a file, or when the file cannot be read or is empty, nothing changes."""
        path = self._token_file or self._password_file
        if not path:
            return False
        try:
            with open(path, encoding="utf-8") as f:
                secret = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning("manager %s: cannot read the credentials file (%s)", self.name,
                           getattr(exc, "strerror", None) or type(exc).__name__)
            return False
        if not secret or secret == self._secret:
            return False
        self._secret = secret
        if self._token_file:
            self.http.headers["Authentication-Token"] = secret
        else:
            self.http.auth = httpx.BasicAuth(self._username, secret)
        logger.info("manager %s: credentials re-read from file", self.name)
        return True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport ---------------------------------------------------------------------------

    async def pause(self, attempt: int) -> None:
        await self._sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))

    async def send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    json_body: Any = None, content: Any = None,
                    headers: dict[str, str] | None = None,
                    expected: tuple[int, ...] = (200,),
                    timeout: float | None = None) -> httpx.Response:
        """One request, no retry. Returns the response if its status is in `expected`."""
        started = time.monotonic()
        extra: dict[str, Any] = {} if timeout is None else {"timeout": httpx.Timeout(timeout)}
        try:
            resp = await self.http.request(method, path, params=params, json=json_body,
                                            content=content, headers=headers, **extra)
        except httpx.TransportError as exc:
            # INFO, not WARNING: callers that follow a restarting manager expect these.
            logger.info("manager %s: %s %s -> %s after %.3fs", self.name, method, path,
                        type(exc).__name__, time.monotonic() - started)
            raise ManagerUnavailable(unreachable(exc), method=method,
                                               path=path, manager=self.name) from None
        logger.debug("%s %s -> %s in %.3fs", method, path, resp.status_code,
                     time.monotonic() - started)
        resp = _without_markers(resp)
        if resp.status_code in expected:
            return resp
        if resp.status_code == 401 and _resendable(content) and self.reload_credentials():
            return await self.send(method, path, params=params, json_body=json_body,
                                    content=content, headers=headers, expected=expected,
                                    timeout=timeout)
        err = error_from_response(resp.status_code, resp.content, method, path, manager=self.name)
        logger.info("manager %s: %s", self.name, err)  # method, path, code, manager's message
        raise err

    async def request(self, method: str, path: str, *, retry: bool | None = None,
                       retries: int | None = None, **kwargs: Any) -> httpx.Response:
        """`_send` with retries on ManagerUnavailable, by default only for GET.

        `retries` overrides the client's count for this call (GETs only)."""
        if retry is None:
            retry = method == "GET"
        count = self.retries if retries is None else max(0, retries)
        attempts = 1 + (count if retry else 0)
        for attempt in range(attempts):
            try:
                return await self.send(method, path, **kwargs)
            except ManagerUnavailable:
                if attempt + 1 >= attempts:
                    raise
                await self.pause(attempt)
        raise AssertionError("unreachable")

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def get_list(self, path: str, params: dict[str, Any], *, size: int, offset: int = 0,
                    headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """All items of a paginated list, following `metadata.pagination` from `offset`."""
        items: list[dict[str, Any]] = []
        seen_ids: set[Any] = set()
        current = offset
        while True:
            page = await self.get_json(path, params={**params, "_size": size,
                                                      "_offset": current}, headers=headers)
            got = items_of(page)
            # a list that grows between pages shifts items onto the next page: keep one of each
            for item in got:
                key = item.get("id") if isinstance(item, dict) else None
                if key is None or key not in seen_ids:
                    items.append(item)
                    seen_ids.add(key)
            total = pagination_total(page)
            current += len(got)
            if not got or total is None or current >= total:
                return items


_MARKER_BYTES = re.compile(rb"\xee\x80[\x80\x81]|\\u[eE]00[01]")


def _without_markers(resp: httpx.Response) -> httpx.Response:
    """The manager's answer without the two characters snapbot wraps its own Slack markup in
    (bot.messages.text), raw or JSON-escaped, so nothing it says can pose as a mention."""
    body = resp.content
    if not _MARKER_BYTES.search(body):
        return resp
    headers = [(k, v) for k, v in resp.headers.items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(resp.status_code, headers=headers,
                          content=_MARKER_BYTES.sub(b"", body), request=resp.request)
