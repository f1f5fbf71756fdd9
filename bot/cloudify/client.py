"""Async Cloudify Manager REST v3.1 client (httpx).

Every method raises a `bot.errors.CloudifyError` subclass chosen by the manager's `error_code`,
or `ManagerUnavailable` for connection errors, timeouts and 502/503/504 without a Cloudify body.

Facts about the wire format come from cloudify-common's `cloudify_rest_client` (7.0.x):
- create: `PUT /snapshots/<id>` JSON body with include_credentials, include_logs, include_events,
  queue, tempdir_path, legacy, listener_timeout; expects 201 and returns an execution.
- restore: `POST /snapshots/<id>/restore` JSON body with force, restore_certificates, no_reboot,
  ignore_plugin_failure (5.x managers also require recreate_deployments_envs; 7.x dropped it).
- upload: `PUT /snapshots/<id>/archive` with the file as a chunked raw body, or no body and the
  query parameter `snapshot_archive_url`; expects 201 and returns the snapshot.
  The rest client sends its session-wide `Content-type: application/json` even then; this
  client labels the raw body `application/octet-stream`.
- 304 from maintenance activate/deactivate means "already in that state" (the rest client turns
  it into NotModifiedError); here it returns the current state instead.
- `X-BYPASS-MAINTENANCE: true` lets an admin read executions/events while maintenance is on.

Secrets: credentials live only inside the httpx client (auth / default headers). Error messages
and log lines are built from the method, the path (never the query string) and the manager's own
message, so no password, token or header can leak through them.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from bot import archive
from bot.cloudify import versions
from bot.cloudify.cluster import ClusterHealth, assess
from bot.cloudify.models import (ArchiveInfo, Deployment, Event, Execution, ExecutionSchedule,
                                 MaintenanceState, ManagerNode, PluginsUpdate, Snapshot, Version)
from bot.errors import (ERROR_CODES, ArchiveError, BadParameters, CloudifyError, ConfigError, UsageError,
                        Conflict, Forbidden, IllegalAction, ManagerUnavailable, NotFound,
                        ServerError, Unauthorized)
from bot.partials import partial_name

logger = logging.getLogger("bot.cloudify")
T = TypeVar("T")

API_PREFIX = "/api/v3.1"
CHUNK = 1024 * 1024
BYPASS_MAINTENANCE_HEADER = "X-BYPASS-MAINTENANCE"

#: Codes the manager (or the rest client's exception list) uses that are variants of a code
#: already in `bot.errors.ERROR_CODES`. The instance keeps the manager's own code.
EXTRA_ERROR_CODES: dict[str, type[CloudifyError]] = {
    "illegal_execution_parameters_error": BadParameters,
    "no_such_include_field_error": BadParameters,
    "invalid_filter_rule": BadParameters,
    "missing_required_deployment_input_error": BadParameters,
    "unknown_deployment_input_error": BadParameters,
    "user_unauthorized_error": Unauthorized,
    "missing_cloudify_license": Forbidden,
    "expired_cloudify_license": Forbidden,
    "deployment_plugin_not_found": NotFound,
    "deployment_parent_not_found_error": NotFound,
    "snapshot_action_error": IllegalAction,  # e.g. "Failed snapshot cannot be restored"
    "plugin_in_use": Conflict,
    "blueprint_in_use": Conflict,
    "forbidden_while_cancelling": Conflict,
    "not_cluster_master": ManagerUnavailable,
    "removed_from_cluster": ManagerUnavailable,
}

_BY_STATUS: dict[int, type[CloudifyError]] = {
    400: BadParameters, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
}
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def scrub_urls(text: str) -> str:
    """URLs inside a text with their user:password@ and query string replaced by "…".

    Managers echo URLs in their messages (e.g. an upload's snapshot_archive_url, which may carry
    credentials or a presigned signature); such messages go to Slack, logs and the database."""
    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in ".,:;)]}":
            url, tail = url[:-1], url[-1] + tail
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
        except ValueError:
            return "(URL)" + tail
        if parts.username or parts.password:
            netloc = "…@" + netloc
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{netloc}{parts.path}{query}{tail}"
    return _URL_IN_TEXT.sub(one, text)


def error_from_response(status: int, body: bytes, method: str, path: str) -> CloudifyError:
    """The typed error for a non-success answer. Uses `error_code` first, then the status."""
    data: Any = None
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    code = data.get("error_code") if isinstance(data, dict) else None
    message = ""
    if isinstance(data, dict):
        message = scrub_urls(str(data.get("message") or data.get("detail") or ""))
    if code:
        cls = ERROR_CODES.get(code) or EXTRA_ERROR_CODES.get(code) or _class_for_status(status)
        return cls(message or f"HTTP {status}", status=status, error_code=code, method=method,
                   path=path)
    if status in _UNAVAILABLE_STATUSES:
        return ManagerUnavailable(f"the manager answered HTTP {status} (it may be restarting)",
                                  status=status, method=method, path=path)
    cls = _class_for_status(status)
    return cls(message or f"HTTP {status}", status=status, method=method, path=path)


def _class_for_status(status: int) -> type[CloudifyError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in _UNAVAILABLE_STATUSES:
        return ManagerUnavailable
    if status >= 500:
        return ServerError
    return CloudifyError


def _unreachable(exc: httpx.TransportError) -> str:
    """Why the manager could not be reached, without echoing the request (headers, auth)."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
        return ("the manager's TLS certificate could not be verified "
                "(check the manager's CA bundle)")
    if isinstance(exc, httpx.TimeoutException):
        return f"the manager did not answer in time ({type(exc).__name__})"
    return f"cannot reach the manager ({type(exc).__name__})"


#: errno values that mean "no room left to write" (a full disk, a quota, a file size limit).
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _write_failed(exc: OSError, where: Path) -> str:
    """Why writing the archive failed, in plain words (no path beyond the archive directory)."""
    why = exc.strerror or type(exc).__name__
    if exc.errno in _NO_ROOM:
        return (f"the disk is full: cannot write the archive to {where} ({why}); "
                "nothing was saved. Free some space (or raise the limit) and try again")
    return f"cannot write the archive to {where} ({why}); nothing was saved"


def _default_name(base_url: str) -> str:
    """host[:port] of the manager URL (never its userinfo), when no name is given."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or base_url
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "manager"


class _NoQueryInHttpxLog(logging.Filter):
    """httpx logs every request's full URL at INFO. Keep the query string out of that line: an
    upload's `snapshot_archive_url` may be a presigned URL whose signature is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                (str(a.copy_with(query=None, fragment=None)) + ("?…" if a.query else ""))
                if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _quiet_httpx_urls() -> None:
    """Attach the filter to httpx's logger once (idempotent; called by each client)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _NoQueryInHttpxLog) for f in httpx_logger.filters):
        httpx_logger.addFilter(_NoQueryInHttpxLog())


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return list(data.get("items") or [])
    return list(data or [])


def _pagination_total(page: Any) -> int | None:
    if not isinstance(page, dict):
        return None
    total = ((page.get("metadata") or {}).get("pagination") or {}).get("total")
    return int(total) if total is not None else None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data itself is synced
    finally:
        os.close(fd)


def _resendable(content: Any) -> bool:
    """A body that can be sent twice (not a stream already consumed)."""
    return content is None or isinstance(content, (bytes, str))


def _bool(value: bool) -> str:
    return "true" if value else "false"


class ManagerClients(dict[str, "CloudifyClient"]):
    """The clients by configured manager name; an unknown name (e.g. a job of a manager since
    removed from the config) is a UsageError naming the configured ones, not a KeyError."""

    def __missing__(self, name: str) -> "CloudifyClient":
        known = ", ".join(self)
        raise UsageError(f"unknown manager {name!r} (configured: {known})")


class CloudifyClient:
    """One manager, one tenant. Use as `async with CloudifyClient(...) as c:` or call `aclose`."""

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
        _quiet_httpx_urls()
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
        self._http = httpx.AsyncClient(base_url=self.base_url + API_PREFIX, auth=auth,
                                       headers=headers, verify=verify, transport=transport,
                                       timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        return f"CloudifyClient({self.name!r}, {self.base_url!r}, tenant={self.tenant!r})"

    def _tag(self, err: Exception) -> Exception:
        """Stamp an error with this client's manager name (messages say which manager failed)."""
        try:
            err.manager = self.name  # type: ignore[attr-defined]
        except AttributeError:
            pass
        return err

    async def aclose(self) -> None:
        await self._http.aclose()

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
            self._http.headers["Authentication-Token"] = secret
        else:
            self._http.auth = httpx.BasicAuth(self._username, secret)
        logger.info("manager %s: credentials re-read from file", self.name)
        return True

    async def __aenter__(self) -> "CloudifyClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- transport ---------------------------------------------------------------------------

    async def _backoff(self, attempt: int) -> None:
        await self._sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))

    async def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    json_body: Any = None, content: Any = None,
                    headers: dict[str, str] | None = None,
                    expected: tuple[int, ...] = (200,),
                    timeout: float | None = None) -> httpx.Response:
        """One request, no retry. Returns the response if its status is in `expected`."""
        started = time.monotonic()
        extra: dict[str, Any] = {} if timeout is None else {"timeout": httpx.Timeout(timeout)}
        try:
            resp = await self._http.request(method, path, params=params, json=json_body,
                                            content=content, headers=headers, **extra)
        except httpx.TransportError as exc:
            # INFO, not WARNING: callers that follow a restarting manager expect these.
            logger.info("manager %s: %s %s -> %s after %.3fs", self.name, method, path,
                        type(exc).__name__, time.monotonic() - started)
            raise self._tag(ManagerUnavailable(_unreachable(exc), method=method,
                                               path=path)) from None
        logger.debug("%s %s -> %s in %.3fs", method, path, resp.status_code,
                     time.monotonic() - started)
        if resp.status_code in expected:
            return resp
        if resp.status_code == 401 and _resendable(content) and self.reload_credentials():
            return await self._send(method, path, params=params, json_body=json_body,
                                    content=content, headers=headers, expected=expected,
                                    timeout=timeout)
        err = self._tag(error_from_response(resp.status_code, resp.content, method, path))
        logger.info("manager %s: %s", self.name, err)  # method, path, code, manager's message
        raise err

    async def _request(self, method: str, path: str, *, retry: bool | None = None,
                       retries: int | None = None, **kwargs: Any) -> httpx.Response:
        """`_send` with retries on ManagerUnavailable, by default only for GET.

        `retries` overrides the client's count for this call (GETs only)."""
        if retry is None:
            retry = method == "GET"
        count = self.retries if retries is None else max(0, retries)
        attempts = 1 + (count if retry else 0)
        for attempt in range(attempts):
            try:
                return await self._send(method, path, **kwargs)
            except ManagerUnavailable:
                if attempt + 1 >= attempts:
                    raise
                await self._backoff(attempt)
        raise AssertionError("unreachable")

    async def _get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self._request("GET", path, **kwargs)).json()

    async def _list(self, path: str, params: dict[str, Any], *, size: int, offset: int = 0,
                    headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """All items of a paginated list, following `metadata.pagination` from `offset`."""
        items: list[dict[str, Any]] = []
        seen_ids: set[Any] = set()
        current = offset
        while True:
            page = await self._get_json(path, params={**params, "_size": size,
                                                      "_offset": current}, headers=headers)
            got = _items(page)
            # a list that grows between pages shifts items onto the next page: keep one of each
            for item in got:
                key = item.get("id") if isinstance(item, dict) else None
                if key is None or key not in seen_ids:
                    items.append(item)
                    seen_ids.add(key)
            total = _pagination_total(page)
            current += len(got)
            if not got or total is None or current >= total:
                return items

    # -- manager -----------------------------------------------------------------------------

    async def version(self) -> Version:
        return Version.from_api(await self._get_json("/version"))

    async def status(self) -> dict[str, Any]:
        """`GET /status`: {"status": "OK"|"Fail", "services": {...}}."""
        return dict(await self._get_json("/status"))

    async def managers(self) -> list[ManagerNode]:
        return [ManagerNode.from_api(d) for d in _items(await self._get_json("/managers"))]

    async def cluster_status(self, *, summary: bool = False) -> dict[str, Any]:
        """`GET /cluster-status` (what `cfy cluster status` reads)."""
        params = {"summary": "true"} if summary else None
        return dict(await self._get_json("/cluster-status", params=params))

    async def cluster_health(self) -> ClusterHealth:
        """`/managers` and `/cluster-status` read together (see `bot.cloudify.cluster`). A
        manager without cluster-status (404) gives the nodes only; one whose full answer fails is
        asked for the summary, whose HTTP 500 means the status is Fail."""
        nodes = await self.managers()
        cluster: dict[str, Any] | None = None
        summary: str | None = None
        try:
            cluster = await self.cluster_status()
        except NotFound:
            cluster = None
        except ServerError:
            try:
                summary = (await self.cluster_status(summary=True)).get("status")
            except ServerError as exc:
                summary = "Fail" if exc.status == 500 else None
        return assess(nodes, cluster, summary)

    # -- snapshots ---------------------------------------------------------------------------

    async def list_snapshots(self) -> list[Snapshot]:
        items = await self._list("/snapshots", {"_sort": "-created_at"}, size=1000)
        return [Snapshot.from_api(d) for d in items]

    async def get_snapshot(self, snapshot_id: str, *, retries: int | None = None,
                           timeout: float | None = None) -> Snapshot:
        """One snapshot. Retries like every GET; a loop that follows a restart through an
        outage can pass `retries=0` and a short `timeout` and do its own waiting."""
        return Snapshot.from_api(await self._get_json(f"/snapshots/{snapshot_id}",
                                                      retries=retries, timeout=timeout))

    async def create_snapshot(self, snapshot_id: str, *, include_credentials: bool = True,
                              include_logs: bool = True, include_events: bool = True,
                              queue: bool = False, tempdir_path: str | None = None,
                              legacy: bool | None = None,
                              listener_timeout: int | None = None) -> Execution:
        """Start a snapshot. `legacy` picks the format on 7.0+ (True: database dump, what the
        7.0.5 CLI defaults to; False: the per-item export). None: the configured
        `snapshot_format` for this manager's version; the key is left out on 5.x/6.x managers
        (one format only; their clients never send it). Note a 7.0 manager that gets no `legacy`
        makes a *new-format* snapshot."""
        if legacy is None:
            legacy = (await self.create_format())[1]
        body: dict[str, Any] = {"include_credentials": include_credentials,
                                "include_logs": include_logs, "include_events": include_events,
                                "queue": queue, "tempdir_path": tempdir_path,
                                "listener_timeout": listener_timeout}
        if legacy is not None:
            body["legacy"] = legacy
        resp = await self._request("PUT", f"/snapshots/{snapshot_id}", json_body=body,
                                   expected=(201,))
        return Execution.from_api(resp.json())

    async def create_format(self) -> tuple[str, bool | None]:
        """(format, legacy flag to send) for a snapshot created now on this manager, from the
        configured `snapshot_format` and the manager's version. Raises ConfigError when the
        setting asks for a format the version does not have."""
        version = (await self.version()).version
        try:
            fmt = versions.resolve_format(self.snapshot_format, version)
        except versions.FormatNotSupported as exc:
            raise self._tag(ConfigError(f"snapshot_format of manager {self.name}", str(exc))) from None
        return fmt, versions.legacy_flag(fmt, version)

    async def delete_snapshot(self, snapshot_id: str) -> Snapshot:
        resp = await self._request("DELETE", f"/snapshots/{snapshot_id}", expected=(200, 204))
        if resp.status_code == 204 or not resp.content:
            return Snapshot(id=snapshot_id, status="deleted")
        return Snapshot.from_api(resp.json())

    async def download_snapshot(self, snapshot_id: str, dest: str | Path) -> ArchiveInfo:
        """Stream to a temp file beside `dest`, check it is a valid zip, sha256 it, then rename
        to `dest` atomically. On any failure the temp file is removed and nothing is at `dest`.

        Memory stays bounded by one chunk. Opening the stream is retried like a GET; a stream
        cut half-way raises `ManagerUnavailable` (call again to start over).
        """
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._tag(ArchiveError(f"cannot create the archive directory {dest.parent}: "
                                         f"{exc.strerror or exc}")) from None
        tmp = dest.with_name(partial_name(dest.name))
        path = f"/snapshots/{snapshot_id}/archive"
        try:
            info = await self._download_to(path, tmp)
            try:
                await asyncio.to_thread(archive.check_zip, tmp)
            except ArchiveError as exc:
                raise self._tag(ArchiveError(f"snapshot {snapshot_id}: the downloaded archive "
                                             f"is not usable ({exc}); nothing was saved")) from None
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            archive.write_sidecar(dest, info.sha256)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            if exc.errno in _NO_ROOM:
                raise self._tag(ArchiveError(f"the disk is full: cannot write the checksum "
                                             f"beside {dest.name} ({exc.strerror}); nothing was "
                                             "saved")) from None
            raise self._tag(ArchiveError(f"cannot write the checksum beside {dest.name}: "
                                         f"{exc.strerror or exc}")) from None
        _fsync_dir(dest.parent)  # make both renames durable
        return ArchiveInfo(path=str(dest), size=info.size, sha256=info.sha256)

    async def _download_to(self, path: str, tmp: Path) -> ArchiveInfo:
        """Opening is retried like a GET; a stream cut half-way is taken up again up to
        `download_retries` times: from where it was cut (`Range`) when the manager said it
        accepts ranges, else from the start."""
        part = _Partial()
        opened = cuts = 0
        while True:
            try:
                return await self._stream_once(path, tmp, part)
            except _NotStarted as exc:
                if opened >= self.retries:
                    raise exc.error from None
                await self._backoff(opened)
                opened += 1
            except _Cut as exc:
                if cuts >= self.download_retries:
                    raise exc.error from None
                cuts += 1
                how = f"from byte {part.size}" if part.ranges else "from the start"
                logger.warning("manager %s: %s; taking it up again %s (%d of %d)", self.name,
                               exc.error.manager_message, how, cuts, self.download_retries)
                await self._backoff(cuts - 1)

    async def _stream_once(self, path: str, tmp: Path, part: "_Partial") -> ArchiveInfo:
        method = "GET"
        started = time.monotonic()
        answered = False
        headers = {"Range": f"bytes={part.size}-"} if part.size and part.ranges else {}
        try:
            async with self._http.stream(method, path, headers=headers) as resp:
                answered = True
                if resp.status_code not in (200, 206):
                    body = await resp.aread()
                    logger.debug("%s %s -> %s in %.3fs", method, path, resp.status_code,
                                 time.monotonic() - started)
                    err = self._tag(error_from_response(resp.status_code, body, method, path))
                    if isinstance(err, ManagerUnavailable):
                        raise _NotStarted(err)
                    raise err
                mode = part.answer(resp.status_code, resp.headers)
                if mode is None:
                    raise _Cut(self._tag(ManagerUnavailable(
                        "the manager answered another range than the one asked for",
                        method=method, path=path)))
                with open(tmp, mode) as f:
                    async for chunk in resp.aiter_bytes(self.chunk_size):
                        part.digest.update(chunk)
                        await asyncio.to_thread(f.write, chunk)
                        part.size += len(chunk)
                    await asyncio.to_thread(f.flush)
                    await asyncio.to_thread(os.fsync, f.fileno())
        except httpx.TransportError as exc:
            logger.debug("%s %s -> %s after %.3fs, %d bytes", method, path,
                         type(exc).__name__, time.monotonic() - started, part.size)
            if not answered:  # nothing received yet: as safe to retry as any GET
                raise _NotStarted(self._tag(ManagerUnavailable(
                    _unreachable(exc), method=method, path=path))) from None
            raise _Cut(self._tag(ManagerUnavailable(
                f"the download was cut after {part.size} bytes ({type(exc).__name__})",
                method=method, path=path))) from None
        except OSError as exc:
            logger.warning("writing %s failed after %d bytes: %s", tmp.name, part.size,
                           exc.strerror or type(exc).__name__)
            raise self._tag(ArchiveError(_write_failed(exc, tmp.parent))) from None
        logger.debug("%s %s -> %s in %.3fs, %d bytes", method, path, resp.status_code,
                     time.monotonic() - started, part.size)
        if part.total is not None and part.total != part.size:
            raise self._tag(ArchiveError(f"the download is incomplete: got {part.size} of "
                                         f"{part.total} bytes"))
        return ArchiveInfo(path=str(tmp), size=part.size, sha256=part.digest.hexdigest())

    async def stream_archive(self, snapshot_id: str,
                             sink: Callable[[AsyncIterator[bytes], int | None], Awaitable[T]]) -> T:
        """Stream the snapshot's archive into `sink(chunks, expected_size)` (e.g. an archive
        store's write) and return what it returns. Opening is retried like a GET until the
        manager answers; a stream cut half-way is taken up again up to `download_retries` times:
        inside the same chunks with `Range` when the manager accepts ranges, else by calling the
        sink again from the start. Past that, `ManagerUnavailable` comes out of the chunks.
        Memory stays bounded by one chunk."""
        path = f"/snapshots/{snapshot_id}/archive"
        opened = 0
        cuts = [0]
        while True:
            try:
                return await self._stream_into(path, sink, cuts)
            except _NotStarted as exc:
                if opened >= self.retries:
                    raise exc.error from None
                await self._backoff(opened)
                opened += 1
            except _Cut as exc:
                if cuts[0] >= self.download_retries:
                    raise exc.error from None
                cuts[0] += 1
                logger.warning("manager %s: %s; taking it up again from the start (%d of %d)",
                               self.name, exc.error.manager_message, cuts[0], self.download_retries)
                await self._backoff(cuts[0] - 1)

    async def _stream_into(self, path: str,
                           sink: Callable[[AsyncIterator[bytes], int | None], Awaitable[T]],
                           cuts: list[int]) -> T:
        method = "GET"
        started = time.monotonic()
        size = 0
        answered = False

        def cut(exc: BaseException | str) -> _Cut:
            why = exc if isinstance(exc, str) else type(exc).__name__
            return _Cut(self._tag(ManagerUnavailable(
                f"the download was cut after {size} bytes ({why})", method=method, path=path)))
        try:
            async with contextlib.AsyncExitStack() as stack:
                resp = await stack.enter_async_context(self._http.stream(method, path))
                answered = True
                if resp.status_code != 200:
                    body = await resp.aread()
                    err = self._tag(error_from_response(resp.status_code, body, method, path))
                    if isinstance(err, ManagerUnavailable):
                        raise _NotStarted(err)
                    raise err
                length = resp.headers.get("content-length")
                ranges = resp.headers.get("accept-ranges", "").lower() == "bytes"

                async def chunks() -> AsyncIterator[bytes]:
                    nonlocal size, resp
                    while True:
                        try:
                            async for chunk in resp.aiter_bytes(self.chunk_size):
                                size += len(chunk)
                                yield chunk
                            return
                        except httpx.TransportError as exc:
                            if not ranges or cuts[0] >= self.download_retries:
                                raise cut(exc) from None
                            cuts[0] += 1
                            logger.warning("manager %s: the download was cut after %d bytes; taking "
                                           "it up again from byte %d (%d of %d)", self.name, size,
                                           size, cuts[0], self.download_retries)
                        await self._backoff(cuts[0] - 1)
                        try:
                            resp = await stack.enter_async_context(self._http.stream(
                                method, path, headers={"Range": f"bytes={size}-"}))
                        except httpx.TransportError as exc:
                            raise cut(exc) from None
                        m = re.match(r"bytes (\d+)-", resp.headers.get("content-range", ""))
                        if resp.status_code != 206 or not m or int(m.group(1)) != size:
                            raise cut(f"the manager answered {resp.status_code} to a range request")
                result = await sink(chunks(), int(length) if length and length.isdigit() else None)
        except httpx.TransportError as exc:
            if not answered:  # nothing received yet: as safe to retry as any GET
                raise _NotStarted(self._tag(ManagerUnavailable(
                    _unreachable(exc), method=method, path=path))) from None
            raise cut(exc) from None
        logger.debug("%s %s -> 200 in %.3fs, %d bytes", method, path,
                     time.monotonic() - started, size)
        return result

    async def upload_snapshot(self, snapshot_id: str, *, path: str | Path | None = None,
                              url: str | None = None,
                              content: AsyncIterable[bytes] | None = None) -> Snapshot:
        """Stream a local archive or `content` (e.g. an archive store's read) as a chunked
        PUT body, or ask the manager to fetch `url`.

        Never retried: a PUT that failed half-way must be looked at, not repeated blindly.
        """
        if sum(x is not None for x in (path, url, content)) != 1:
            raise ValueError("upload_snapshot needs exactly one of path=, url= or content=")
        endpoint = f"/snapshots/{snapshot_id}/archive"
        if content is not None:
            resp = await self._request("PUT", endpoint, content=content,
                                       headers={"Content-Type": "application/octet-stream"},
                                       expected=(201,))
            return await self._uploaded(snapshot_id, resp)
        if url is not None:
            resp = await self._request("PUT", endpoint, params={"snapshot_archive_url": url},
                                       expected=(201,))
            return await self._uploaded(snapshot_id, resp)
        src = Path(path)  # type: ignore[arg-type]
        if not src.is_file():
            raise self._tag(ArchiveError(f"no archive to upload at {src}"))
        chunks = self._file_chunks(src)
        try:
            resp = await self._request("PUT", endpoint, content=chunks,
                                       headers={"Content-Type": "application/octet-stream"},
                                       expected=(201,))
        finally:
            await chunks.aclose()  # closes the file even when the request failed half-way
        return await self._uploaded(snapshot_id, resp)

    async def _uploaded(self, snapshot_id: str, resp: httpx.Response) -> Snapshot:
        # Uploading over an existing snapshot's archive answers `{}`: read the snapshot back.
        data = resp.json() if resp.content else {}
        if isinstance(data, dict) and data.get("id"):
            return Snapshot.from_api(data)
        return await self.get_snapshot(snapshot_id)

    async def _file_chunks(self, src: Path) -> AsyncGenerator[bytes, None]:
        f = await asyncio.to_thread(open, src, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, self.chunk_size):
                yield chunk
        finally:
            f.close()

    async def restore_snapshot(self, snapshot_id: str, *, force: bool = False,
                               restore_certificates: bool = False, no_reboot: bool = False,
                               tenant_name: str | None = None,
                               ignore_plugin_failure: bool = False,
                               recreate_deployments_envs: bool | None = None) -> Execution:
        """Start a restore. `force` is always sent (some versions answer 500 without it).

        `tenant_name` is sent only when given (older managers read it; 7.x ignores it);
        `recreate_deployments_envs` only when given (5.x managers require it, 6.0+ dropped it).
        """
        body: dict[str, Any] = {"force": force, "restore_certificates": restore_certificates,
                                "no_reboot": no_reboot,
                                "ignore_plugin_failure": ignore_plugin_failure}
        if tenant_name is not None:
            body["tenant_name"] = tenant_name
        if recreate_deployments_envs is not None:
            body["recreate_deployments_envs"] = recreate_deployments_envs
        resp = await self._request("POST", f"/snapshots/{snapshot_id}/restore", json_body=body,
                                   expected=(200, 201))
        return Execution.from_api(resp.json())

    async def snapshot_status(self, *, retries: int | None = None,
                              timeout: float | None = None) -> str:
        """'running' or 'not-running' (no auth needed on the manager).

        Retries like every GET. To follow a restore through its outage, poll it with
        `retries=0` and a short `timeout` (a connection opened as the REST service goes down
        may never be answered) and treat `ManagerUnavailable` as "still restarting"."""
        data = await self._get_json("/snapshot-status", retries=retries, timeout=timeout)
        return str(data.get("status") or "") if isinstance(data, dict) else str(data)

    # -- maintenance -------------------------------------------------------------------------

    async def maintenance(self) -> MaintenanceState:
        return MaintenanceState.from_api(await self._get_json("/maintenance"))

    async def activate_maintenance(self) -> MaintenanceState:
        """Returns the new state; if already on (304), the current state."""
        return await self._maintenance_switch("activate")

    async def deactivate_maintenance(self) -> MaintenanceState:
        """Returns the new state; if already off (304), the current state."""
        return await self._maintenance_switch("deactivate")

    async def _maintenance_switch(self, action: str) -> MaintenanceState:
        resp = await self._request("POST", f"/maintenance/{action}", expected=(200, 304))
        if resp.status_code == 304 or not resp.content:
            return await self.maintenance()
        return MaintenanceState.from_api(resp.json())

    # -- executions, events, deployments, plugins --------------------------------------------

    @staticmethod
    def _bypass(bypass_maintenance: bool) -> dict[str, str] | None:
        return {BYPASS_MAINTENANCE_HEADER: "true"} if bypass_maintenance else None

    async def list_executions(self, *, status: str | list[str] | None = None,
                              workflow_id: str | None = None, deployment_id: str | None = None,
                              include_system_workflows: bool = True, sort: str = "-created_at",
                              size: int = 1000, offset: int = 0,
                              bypass_maintenance: bool = False) -> list[Execution]:
        """All matching executions from `offset` on, fetched `size` at a time."""
        params: dict[str, Any] = {"_include_system_workflows": _bool(include_system_workflows)}
        if sort:
            params["_sort"] = sort
        if status is not None:
            params["status"] = [status] if isinstance(status, str) else list(status)
        if workflow_id is not None:
            params["workflow_id"] = workflow_id
        if deployment_id is not None:
            params["deployment_id"] = deployment_id
        items = await self._list("/executions", params, size=size, offset=offset,
                                 headers=self._bypass(bypass_maintenance))
        return [Execution.from_api(d) for d in items]

    async def get_execution(self, execution_id: str, *, bypass_maintenance: bool = False,
                            retries: int | None = None,
                            timeout: float | None = None) -> Execution:
        return Execution.from_api(await self._get_json(
            f"/executions/{execution_id}", headers=self._bypass(bypass_maintenance),
            retries=retries, timeout=timeout))

    async def start_execution(self, deployment_id: str, workflow_id: str, *,
                              parameters: dict[str, Any] | None = None,
                              scheduled_time: str | None = None) -> Execution:
        body: dict[str, Any] = {"deployment_id": deployment_id, "workflow_id": workflow_id,
                                "parameters": parameters or {}}
        if scheduled_time is not None:
            body["scheduled_time"] = scheduled_time
        resp = await self._request("POST", "/executions", json_body=body, expected=(200, 201))
        return Execution.from_api(resp.json())

    async def cancel_execution(self, execution_id: str, *, force: bool = False,
                               kill: bool = False) -> Execution:
        """`POST /executions/<id>` {"action": "cancel"|"force-cancel"|"kill"} (what `cfy
        executions cancel` sends). The manager answers 400 illegal_action_error when the
        execution is not in a state that can be cancelled."""
        action = "kill" if kill else "force-cancel" if force else "cancel"
        resp = await self._request("POST", f"/executions/{execution_id}",
                                   json_body={"action": action}, expected=(200,))
        return Execution.from_api(resp.json())

    async def list_execution_schedules(self, *, bypass_maintenance: bool = False) -> list[ExecutionSchedule]:
        """`GET /execution-schedules` (6.0+; 5.x managers answer 404)."""
        items = await self._list("/execution-schedules", {}, size=1000,
                                 headers=self._bypass(bypass_maintenance))
        return [ExecutionSchedule.from_api(d) for d in items]

    async def list_events(self, execution_id: str, *, type: str = "cloudify_log",
                          bypass_maintenance: bool = False) -> list[Event]:
        params: dict[str, Any] = {"execution_id": execution_id, "_sort": "@timestamp"}
        if type:
            params["type"] = type
        items = await self._list("/events", params, size=1000,
                                 headers=self._bypass(bypass_maintenance))
        return [Event.from_api(d) for d in items]

    async def list_deployments(self) -> list[Deployment]:
        return [Deployment.from_api(d) for d in await self._list("/deployments", {}, size=1000)]

    async def list_blueprints(self) -> list[dict[str, Any]]:
        return await self._list("/blueprints", {}, size=1000)

    async def update_plugins(self, blueprint_id: str, *, force: bool = False) -> PluginsUpdate:
        resp = await self._request("POST", f"/plugins-updates/{blueprint_id}/update/initiate",
                                   json_body={"force": force}, expected=(200, 201))
        return PluginsUpdate.from_api(resp.json())

    async def get_plugins_update(self, update_id: str) -> PluginsUpdate:
        return PluginsUpdate.from_api(await self._get_json(f"/plugins-updates/{update_id}"))


class _Cut(Exception):
    """A download stream cut after the manager answered (worth taking up again, bounded)."""

    def __init__(self, error: ManagerUnavailable) -> None:
        self.error = error


class _Partial:
    """A download in progress across attempts: bytes on disk, their running sha256, the full
    size, and whether the manager takes `Range` requests (it said `Accept-Ranges: bytes`)."""

    def __init__(self) -> None:
        self.size = 0
        self.total: int | None = None
        self.ranges = False
        self.digest = hashlib.sha256()

    def answer(self, status: int, headers: Any) -> str | None:
        """The file mode for this answer: append to what we have (a 206 from our offset) or
        start over (a 200); None for a range we did not ask for (then: again, without Range)."""
        length = headers.get("content-length")
        if status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+)", headers.get("content-range", ""))
            if m and int(m.group(1)) == self.size:
                self.total = int(m.group(2))
                return "ab"
            self.size, self.digest, self.ranges = 0, hashlib.sha256(), False
            return None
        self.size, self.digest = 0, hashlib.sha256()
        self.ranges = headers.get("accept-ranges", "").lower() == "bytes"
        self.total = int(length) if status == 200 and length and length.isdigit() else None
        return "wb"


class _NotStarted(Exception):
    """A download failed before any byte was written; safe to retry."""

    def __init__(self, error: CloudifyError) -> None:
        super().__init__(str(error))
        self.error = error
