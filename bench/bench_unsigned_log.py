"""Log bytes written for unsigned and malformed requests: Bolt alone vs behind snapbot's guard.

    .venv/bin/python bench/bench_unsigned_log.py [--count 5] [--size 900000]

What is measured: a Bolt AsyncApp served over aiohttp on loopback, as snapbot serves it, with
the root logger at INFO into a counting handler. "before": POST /slack/events goes straight to
Bolt (snapbot before handlers/guard.py). "after": the same app behind `handlers.guard`
(`request_guard` middleware, `quiet_bolt`). Sent: `--count` unsigned bodies of `--size` bytes
(one of them with a raw newline and a forged log line), a non-numeric timestamp, and a signed
200k-deep JSON payload. Printed: status codes, log records and bytes, tracebacks.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import time

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from handlers.guard import quiet_bolt, request_guard

SECRET = "bench-signing-secret"


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records = 0
        self.bytes = 0
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.records += 1
        self.bytes += len(text.encode()) + 1
        self.tracebacks += bool(record.exc_info)


async def serve(guarded: bool) -> tuple[web.AppRunner, str]:
    async def authorize(enterprise_id, team_id, logger):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id,
                               bot_token="xoxb-bench", bot_id="B_BENCH", bot_user_id="U_BENCH")

    bolt = AsyncApp(signing_secret=SECRET, authorize=authorize)

    @bolt.command("/cfy")
    async def cfy(ack):
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application(middlewares=[request_guard(SECRET)] if guarded else [],
                          client_max_size=2 * 1024 * 1024)
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/slack/events"


def sign(body: bytes, ts: str) -> str:
    return "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


async def run(guarded: bool, count: int, size: int) -> None:
    for name in ("slack_bolt", "slack_bolt.AsyncApp"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    if guarded:
        quiet_bolt()
    counter = Counter()
    counter.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(counter)
    runner, url = await serve(guarded)
    statuses = []
    try:
        async with aiohttp.ClientSession() as http:
            ts = str(int(time.time()))
            for i in range(count):
                text = "x" * size if i else "x" * (size - 60) + "\n2026-01-01 INFO snapbot: FORGED approved"
                body = ("command=%2Fcfy&text=" + text).encode()
                async with http.post(url, data=body, headers={
                        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64,
                        "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                    statuses.append(resp.status)
            async with http.post(url, data=b"command=%2Fcfy&text=help", headers={
                    "X-Slack-Request-Timestamp": "12abc", "X-Slack-Signature": "v0=00",
                    "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                statuses.append(resp.status)
            deep = ("payload=" + "[" * 200_000 + "]" * 200_000).encode()
            async with http.post(url, data=deep, headers={
                    "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(deep, ts),
                    "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                statuses.append(resp.status)
    finally:
        await runner.cleanup()
        root.removeHandler(counter)
    label = "after (guard)" if guarded else "before (Bolt alone)"
    print(f"{label:22} statuses {statuses}  log records {counter.records:4}  "
          f"log bytes {counter.bytes:>10,}  tracebacks {counter.tracebacks}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--size", type=int, default=900_000)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.INFO)
    print(f"{args.count} unsigned bodies of {args.size:,} bytes, a non-numeric timestamp, "
          "a signed 200k-deep JSON payload")
    asyncio.run(run(False, args.count, args.size))
    asyncio.run(run(True, args.count, args.size))


if __name__ == "__main__":
    main()
