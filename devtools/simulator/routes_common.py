"""Helpers shared by the simulator's REST route modules (listing, bodies, validation)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from string import ascii_letters
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.clock import parse_time
from devtools.simulator.base import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]
CHUNK = 256 * 1024


def listing(request: web.Request, items: list[dict[str, Any]],
            default_sort: str | None = None, *, filtered: bool = True) -> web.Response:
    """Filter (`_include`), sort (`_sort`), paginate (`_size`, `_offset`) like the manager.
    `filtered=False`: no `metadata.filtered` (events: resources_v1/events.py builds its own
    metadata, pagination only)."""
    q = request.query
    sorts = q.getall("_sort", []) or ([default_sort] if default_sort else [])
    for key in reversed([s for part in sorts for s in part.split(",") if s]):
        desc = key.startswith("-")
        name = key.lstrip("-+")
        items = sorted(items, key=lambda i: (i.get(name) is None, str(i.get(name) or "")),
                       reverse=desc)
    total = len(items)
    try:
        size = int(q.get("_size", "1000"))
        offset = int(q.get("_offset", "0"))
    except ValueError:
        raise ApiError(400, "bad_parameters_error", "_size and _offset must be integers") from None
    items = items[offset:offset + size]
    include = [f for part in q.getall("_include", []) for f in part.split(",") if f]
    if include:
        items = [{k: i.get(k) for k in include} for i in items]
    metadata: dict[str, Any] = {"pagination": {"total": total, "size": size, "offset": offset}}
    if filtered:
        metadata["filtered"] = None
    return web.json_response({"items": items, "metadata": metadata})


def one(item: dict[str, Any], request: web.Request, status: int = 200) -> web.Response:
    include = [f for part in request.query.getall("_include", []) for f in part.split(",") if f]
    if include:
        item = {k: item.get(k) for k in include}
    return web.json_response(item, status=status)


async def body_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "bad_parameters_error", "Request body is not a valid JSON") from None
    return data if isinstance(data, dict) else {}


def filtered(request: web.Request, items: list[dict[str, Any]],
             keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Keep items whose `key` is one of the comma-separated query values, for each key."""
    for key in keys:
        wanted = [v for part in request.query.getall(key, []) for v in part.split(",") if v]
        if wanted:
            items = [i for i in items if i.get(key) in wanted]
    return items


def parse_when(text: Any) -> datetime | None:
    """A time as the manager reads it: ISO 8601 (naive = UTC) or the CLI's YYYYMMDDHHMM+HHMM
    (rest_utils.parse_datetime_string / parse_datetime_multiple_formats); None if neither."""
    value = str(text).strip()
    try:  # before ISO: Python's fromisoformat misreads this compact form
        return datetime.strptime(value, "%Y%m%d%H%M%z").astimezone(UTC)
    except ValueError:
        pass
    try:
        return parse_time(value)
    except ValueError:
        return None


def validate_id(name: str, value: str) -> None:
    """rest_utils.validate_inputs: non-empty, <= 256 chars, URL-safe, starts with a letter."""
    prefix = f"The `{name}` argument"
    if not value:
        raise ApiError(400, "bad_parameters_error", f"{prefix} is empty")
    if len(value) > 256:
        raise ApiError(400, "bad_parameters_error",
                       f"{prefix} is too long. Maximum allowed length is 256 characters")
    if quote(value, safe="") != value:
        raise ApiError(400, "bad_parameters_error", f"{prefix} contains illegal characters. Only "
                       'letters, digits and the characters "-", "." and "_" are allowed')
    if value[0] not in ascii_letters:
        raise ApiError(400, "bad_parameters_error", f"{prefix} must begin with a letter")


def bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ApiError(400, "bad_parameters_error",
                   f"Invalid parameter {name}: expected a boolean, got {value!r}")

