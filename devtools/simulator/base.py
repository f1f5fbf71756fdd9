"""What the simulator's routes share with the app: the API prefix, per-request keys, the error
the routes raise (and its JSON body), injected faults. Kept out of app.py so the route modules
need not import the app (no import cycle)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

API = "/api/v3.1"
# per-request storage keys (typed keys where aiohttp has them)
_RequestKey = getattr(web, "RequestKey", None)
USER_KEY: Any = _RequestKey("user", str) if _RequestKey else "user"
CUT_KEY: Any = _RequestKey("cut_after_bytes", int) if _RequestKey else "cut_after_bytes"


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def error_response(status: int, error_code: str, message: str) -> web.Response:
    return web.json_response({"message": message, "error_code": error_code,
                              "server_traceback": None}, status=status)


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found_error", f"Requested `{kind}` with ID `{ident}` was not found")


@dataclass
class Fault:
    path: str
    method: str | None = None
    status: int | None = None
    error_code: str | None = None
    message: str | None = None
    drop: bool = False
    cut_after_bytes: int | None = None
    count: int = 1

    def matches(self, request: web.Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return re.search(self.path, request.path) is not None
