"""Mapping the manager's answers and transport failures to the error tree (`bot.errors`).

Every error is built with its context as constructor arguments (the manager's configured name,
the method and the path); messages hold the manager's own words with URLs scrubbed, never a
header, a credential or a query string. httpx's own request log lines lose their query strings.
"""
from __future__ import annotations

import errno
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.errors import (
    ERROR_CODES,
    BadParameters,
    CloudifyError,
    Conflict,
    Forbidden,
    IllegalAction,
    ManagerUnavailable,
    NotFound,
    ServerError,
    Unauthorized,
)

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

#: the scheme is bounded (32 characters, far more than any real one): unbounded, a try from each
#: letter of a long word rescanned the rest of it, quadratic in a manager's 100 kB message
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s'\"<>]+")


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
    if "://" not in text:  # most messages: no pattern run at all
        return text
    return _URL_IN_TEXT.sub(one, text)


def error_from_response(status: int, body: bytes, method: str, path: str, *,
                        manager: str = "") -> CloudifyError:
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
                   path=path, manager=manager)
    if status in _UNAVAILABLE_STATUSES:
        return ManagerUnavailable(f"the manager answered HTTP {status} (it may be restarting)",
                                  status=status, method=method, path=path, manager=manager)
    cls = _class_for_status(status)
    return cls(message or f"HTTP {status}", status=status, method=method, path=path,
               manager=manager)


def _class_for_status(status: int) -> type[CloudifyError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in _UNAVAILABLE_STATUSES:
        return ManagerUnavailable
    if status >= 500:
        return ServerError
    return CloudifyError


def unreachable(exc: httpx.TransportError) -> str:
    """Why the manager could not be reached, without echoing the request (headers, auth)."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
        return ("the manager's TLS certificate could not be verified "
                "(check the manager's CA bundle)")
    if isinstance(exc, httpx.TimeoutException):
        return f"the manager did not answer in time ({type(exc).__name__})"
    return f"cannot reach the manager ({type(exc).__name__})"


#: errno values that mean "no room left to write" (a full disk, a quota, a file size limit).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_failed(exc: OSError, where: Path) -> str:
    """Why writing the archive failed, in plain words (no path beyond the archive directory)."""
    why = exc.strerror or type(exc).__name__
    if exc.errno in NO_ROOM:
        return (f"the disk is full: cannot write the archive to {where} ({why}); "
                "nothing was saved. Free some space (or raise the limit) and try again")
    return f"cannot write the archive to {where} ({why}); nothing was saved"


class _NoQueryInHttpxLog(logging.Filter):
    """httpx logs every request's full URL at INFO. Keep the query string out of that line: an
    upload's `snapshot_archive_url` may be a presigned URL whose signature is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                (str(a.copy_with(query=None, fragment=None)) + ("?…" if a.query else ""))
                if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def quiet_httpx_urls() -> None:
    """Attach the filter to httpx's logger once (idempotent; called by each client)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _NoQueryInHttpxLog) for f in httpx_logger.filters):
        httpx_logger.addFilter(_NoQueryInHttpxLog())
