"""Ack latency of signed slash commands: snapbot vs a bare Bolt app, 1 and 50 concurrent requests.

    .venv/bin/python bench/bench_ack_latency.py [--requests 300] [--concurrency 1 50]

What is measured: the time from sending a signed `POST /slack/events` (a slash command, exactly as
Slack sends it) to its HTTP 200, i.e. how long Slack would wait for the ack (its limit is 3 s).
Targets, each in its own process, measured from this (client) process in one run; the Cloudify
Manager simulator and the Slack stand-in run in a third process:

* snapbot `/cfy help` and `/cfy snapshots list` (the real app built by `handlers.app`: it acks
  first, then does the work and answers through the response_url in the background, so under
  concurrency that work competes with the acks on the app's event loop);
* a bare Bolt AsyncApp whose `/noop` listener only acks (same aiohttp adapter, same signing).

Each request gets a fresh response_url from the stand-in's control endpoint (not timed).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"


# ----------------------------------------------------------------------------- server side
async def serve_deps() -> None:
    """The Cloudify Manager simulator and the Slack stand-in, in a process of their own so their
    work does not compete with the app under test."""
    from devtools.simulator import SimulatorOptions, start_simulator
    from devtools.standin.slack import SlackStandin

    tmp = Path(tempfile.mkdtemp(prefix="snapbot-bench-"))
    sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(speed=100, data_dir=str(tmp / "sim")))
    slack = await SlackStandin(bot_token=TOKEN, signing_secret=SECRET).start()
    print(json.dumps({"sim": sim.url, "standin": slack.url, "tmp": str(tmp)}), flush=True)
    await asyncio.Event().wait()


async def serve_snapbot(deps: dict) -> None:
    from bot import bootstrap
    from bot.config import load_settings
    from handlers.app import build_app, build_web_app, make_client
    from handlers.notifier import SlackNotifier

    tmp = Path(deps["tmp"])
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": deps["standin"] + "/api/",
           "SNAPBOT_CHANNEL": "C_OPS", "SNAPBOT_DB": str(tmp / "snapbot.db"),
           "SNAPBOT_ARCHIVE_DIR": str(tmp / "archives"), "CLOUDIFY_URL": deps["sim"], "CLOUDIFY_USERNAME": "admin",
           "CLOUDIFY_PASSWORD": "admin", "SNAPBOT_SCHEDULE": "off"}
    settings = load_settings(env, None, require_slack=True)
    client = make_client(settings)
    services = await bootstrap.build_services(settings, notifier=SlackNotifier(client))
    await bootstrap.start(services)
    for i in range(5):  # a few snapshots, so that `list` has something to show
        await services.clients["default"].create_snapshot(f"bench-{i}")
    app = build_app(services, client=client)
    await _serve(build_web_app(app, services), deps["standin"])


async def serve_bare(deps: dict) -> None:
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from handlers.app import build_web_app

    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=deps["standin"] + "/api/"))

    @app.command("/noop")
    async def noop(ack):  # noqa: ANN001 - Bolt injects by name
        await ack()

    class _NoServices:
        class settings:  # noqa: N801
            managers = ()

        class store:  # noqa: N801
            @staticmethod
            def list_jobs(**_kw):
                return []

    await _serve(build_web_app(app, _NoServices), deps["standin"])


async def _serve(web_app, standin_url: str) -> None:
    from aiohttp import web
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(json.dumps({"events": f"http://127.0.0.1:{port}/slack/events", "standin": standin_url}), flush=True)
    await asyncio.Event().wait()


# ----------------------------------------------------------------------------- client side
def _spawn(kind: str, deps: dict | None = None) -> tuple[subprocess.Popen, dict]:
    extra = ["--deps", json.dumps(deps)] if deps else []
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the {kind} server did not start")
    return proc, json.loads(line)


async def _one(http: aiohttp.ClientSession, target: dict, command: str, text: str, n: int) -> float:
    from devtools.standin.slack import sign
    async with http.post(target["standin"] + "/_standin/response_url",
                         json={"channel": "C_OPS", "user": "U_BENCH"}) as r:
        response_url = (await r.json())["url"]
    body = urlencode({"token": "x", "team_id": "T_SNAP", "team_domain": "snapbot", "channel_id": "C_OPS",
                      "channel_name": "ops", "user_id": "U_BENCH", "user_name": "bench", "command": command,
                      "text": text, "api_app_id": "A_SNAPBOT", "is_enterprise_install": "false",
                      "response_url": response_url, "trigger_id": f"{n}.{time.time_ns()}"})
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": sign(SECRET, body, ts)}
    start = time.perf_counter()
    async with http.post(target["events"], data=body.encode(), headers=headers) as resp:
        await resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"{command} {text}: HTTP {resp.status}")
    return elapsed


async def _measure(target: dict, command: str, text: str, requests: int, concurrency: int) -> list[float]:
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        for i in range(10):  # warm-up (first request also runs auth.test)
            await _one(http, target, command, text, -i)
        sem = asyncio.Semaphore(concurrency)
        out: list[float] = []

        async def worker(n: int) -> None:
            async with sem:
                out.append(await _one(http, target, command, text, n))
        await asyncio.gather(*(worker(n) for n in range(requests)))
        await asyncio.sleep(0.5)  # let background work of the last requests drain
        return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k] * 1000


async def bench(requests: int, concurrencies: list[int]) -> None:
    procs = []
    try:
        deps_proc, deps = _spawn("deps")
        procs.append(deps_proc)
        snap_proc, snapbot = _spawn("snapbot", deps)
        procs.append(snap_proc)
        bare_proc, bare = _spawn("bare", deps)
        procs.append(bare_proc)
        cases = [("bare Bolt /noop", bare, "/noop", ""), ("snapbot /cfy help", snapbot, "/cfy", "help"),
                 ("snapbot /cfy snapshots list", snapbot, "/cfy", "snapshots list")]
        print(f"ack latency, {requests} signed requests per row, python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs")
        print(f"{'target':30} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8}")
        for conc in concurrencies:
            for label, target, command, text in cases:
                t0 = time.perf_counter()
                lat = await _measure(target, command, text, requests, conc)
                wall = time.perf_counter() - t0 - 0.5
                print(f"{label:30} {conc:>4} {_pct(lat, 50):8.2f} {_pct(lat, 99):8.2f} "
                      f"{max(lat) * 1000:8.2f} {requests / wall:8.0f}", flush=True)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--serve", choices=["deps", "snapbot", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--deps", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve == "deps":
        asyncio.run(serve_deps())
    elif args.serve == "snapbot":
        asyncio.run(serve_snapbot(json.loads(args.deps)))
    elif args.serve == "bare":
        asyncio.run(serve_bare(json.loads(args.deps)))
    else:
        asyncio.run(bench(args.requests, args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
