"""Helpers for the client tests: a recording transport and small waits against the simulator."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.cloudify.client import CloudifyClient
from tests.waiting import until


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP (httpx's own transport) that also records what the client sent.

    Streamed request bodies are not recorded (they are consumed by the real transport).
    """

    inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)
    seen: list[Seen] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content if isinstance(request.stream, httpx.ByteStream) else b""
        params: dict[str, list[str]] = {}
        for k, v in request.url.params.multi_items():
            params.setdefault(k, []).append(v)
        self.seen.append(Seen(request.method, request.url.path, params,
                              {k.lower(): v for k, v in request.headers.items()}, body))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def json_body(self, index: int = -1) -> Any:
        return json.loads(self.seen[index].body)


class FakeSleep:
    """Records backoff delays instead of waiting (the client awaits it between retries)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def wait_snapshot(client: CloudifyClient, snapshot_id: str, status: str = "created", *,
                        advancing: Iterable[Any] = ()):
    """`advancing`: simulators on a manual clock, moved on meanwhile (tests.waiting)."""
    async def check():
        snap = await client.get_snapshot(snapshot_id)
        return snap if snap.status in (status, "failed") else None
    snap = await until(check, timeout=20.0, advancing=advancing)
    assert snap.status == status, snap
    return snap


async def wait_execution(client: CloudifyClient, execution_id: str, *, advancing: Iterable[Any] = (), **kw):
    async def check():
        ex = await client.get_execution(execution_id, **kw)
        return ex if ex.finished else None
    return await until(check, timeout=20.0, advancing=advancing)


async def sim_post(sim, path: str, body: dict | None = None) -> dict:
    """Call the simulator's /_sim/ control surface (not Cloudify's API)."""
    async with httpx.AsyncClient(base_url=sim.url) as http:
        resp = await http.post(path, json=body or {})
        resp.raise_for_status()
        return resp.json() if resp.content else {}


async def sim_state(sim) -> dict:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        resp = await http.get("/_sim/state")
        resp.raise_for_status()
        return resp.json()
