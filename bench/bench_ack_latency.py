"""Ack latency of signed slash commands: snapbot vs a bare Bolt app, 1 and 50 concurrent requests.

    .venv/bin/python bench/bench_ack_latency.py [--requests 200] [--concurrency 1 50] [--archive-mb 256]

What is measured: the time from sending a signed `POST /slack/events` (a slash command, exactly as
Slack sends it) to its HTTP 200, i.e. how long Slack would wait for the ack (its limit is 3 s).
Targets, each in its own process, measured from this (client) process in one run; the Cloudify
Manager simulator and the Slack stand-in run in a third process:

* snapbot `/cfy help` and `/cfy snapshots list` (the real app built by `handlers.app`: it acks
  first and hands the work to its background backlog, which answers through the response_url);
* a bare Bolt AsyncApp whose `/noop` listener only acks (same aiohttp adapter, same signing).

Each request gets a fresh response_url from the stand-in's control endpoint (not timed). A row
ends when every request of it has also been answered through its response_url ("all answered",
from the row's first request), so one row's background work never overlaps the next row. The
last columns divide by the bare app's figures of the same concurrency. Then the idle RSS of the
two apps, and archive throughput (snapbot's verified download and its upload, against curl on
the same loopback and the same simulator).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
ARCHIVE_MB = 256
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"


# ----------------------------------------------------------------------------- server side
async def serve_deps() -> None:
    """The Cloudify Manager simulator and the Slack stand-in, in a process of their own so their
    work does not compete with the app under test."""
    from devtools.simulator import SimulatorOptions, start_simulator
    from devtools.standin.slack import SlackStandin

    tmp = Path(tempfile.mkdtemp(prefix="snapbot-bench-"))
    from aiohttp import web

    sim = await start_simulator("127.0.0.1", 0, SimulatorOptions(speed=100, data_dir=str(tmp / "sim")))
    slack = await SlackStandin(bot_token=TOKEN, signing_secret=SECRET).start()

    async def answered(request: web.Request) -> web.Response:
        # how many response_url posts the stand-in has received (the bench waits for a row's
        # background work to drain before the next row starts)
        return web.json_response({"responses": len(slack.responses())})
    counter = web.Application()
    counter.router.add_get("/answered", answered)
    from handlers.server import start_http
    server = await start_http(counter)
    print(json.dumps({"sim": sim.url, "standin": slack.url, "tmp": str(tmp),
                      "answered": f"{server.url}/answered"}), flush=True)
    await asyncio.Event().wait()


async def serve_snapbot(deps: dict) -> None:
    from bot import bootstrap
    from bot.config.load import load_settings
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
    cfy = services.clients["default"]
    for i in range(5):  # a few snapshots, so that `list` has something to show
        await cfy.create_snapshot(f"bench-{i}")  # one at a time: the manager runs one execution
        while (await cfy.get_snapshot(f"bench-{i}")).status != "created":
            await asyncio.sleep(0.05)
    app = build_app(services, client)
    await _serve(build_web_app(app, services), deps["standin"])


async def serve_bare(deps: dict) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=deps["standin"] + "/api/"))

    @app.command("/noop")
    async def noop(ack):
        await ack()

    # A bare Bolt app: no snapbot routes, no request guard, only Bolt's own aiohttp adapter.
    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    await _serve(web_app, deps["standin"])


async def _serve(web_app, standin_url: str) -> None:
    from handlers.server import start_http
    server = await start_http(web_app)
    print(json.dumps({"events": f"{server.url}/slack/events", "standin": standin_url}), flush=True)
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


async def _answered(http: aiohttp.ClientSession, deps: dict) -> int:
    async with http.get(deps["answered"]) as r:
        return (await r.json())["responses"]


async def _measure(target: dict, deps: dict, command: str, text: str, requests: int,
                   concurrency: int) -> tuple[list[float], float, float]:
    """Latencies of `requests` acks, and the seconds until every one was also answered through
    its response_url (0 for the bare app, which answers nothing). The next row starts only after
    this row's background work is done, so rows do not disturb each other."""
    conn = aiohttp.TCPConnector(limit=concurrency)
    answers = command != "/noop"
    async with aiohttp.ClientSession(connector=conn) as http:
        for i in range(10):  # warm-up (first request also runs auth.test)
            await _one(http, target, command, text, -i)
        before = await _answered(http, deps)
        if answers:  # the warm-up's answers first
            while await _answered(http, deps) < before:
                await asyncio.sleep(0.05)
        sem = asyncio.Semaphore(concurrency)
        out: list[float] = []
        base = await _answered(http, deps)
        t0 = time.perf_counter()

        async def worker(n: int) -> None:
            async with sem:
                out.append(await _one(http, target, command, text, n))
        await asyncio.gather(*(worker(n) for n in range(requests)))
        acked = time.perf_counter() - t0
        done = 0.0
        if answers:
            deadline = time.perf_counter() + 120
            while await _answered(http, deps) < base + requests and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
            done = time.perf_counter() - t0
        return out, acked, done


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k] * 1000


async def bench(requests: int, concurrencies: list[int], rounds: int = 4) -> None:
    procs = []
    try:
        deps_proc, deps = _spawn("deps")
        procs.append(deps_proc)
        snap_proc, snapbot = _spawn("snapbot", deps)
        procs.append(snap_proc)
        bare_proc, bare = _spawn("bare", deps)
        procs.append(bare_proc)
        import psutil
        idle = {"bare": psutil.Process(bare_proc.pid).memory_info().rss,
                "snapbot": psutil.Process(snap_proc.pid).memory_info().rss}
        cases = [("bare Bolt /noop", bare, "/noop", ""), ("snapbot /cfy help", snapbot, "/cfy", "help"),
                 ("snapbot /cfy snapshots list", snapbot, "/cfy", "snapshots list")]
        print(f"ack latency, {requests} signed requests per row in {rounds} interleaved rounds, python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"{'target':30} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'acks/s':>8} "
              f"{'all answered s':>15} {'p50 x':>6} {'p99 x':>6}")
        for conc in concurrencies:
            ref = None
            # the rows run interleaved in `rounds` slices, so a change in the machine's load
            # during the run weighs on every row alike
            got: dict[str, tuple[list[float], float, float]] = {c[0]: ([], 0.0, 0.0) for c in cases}
            per_round = max(1, requests // rounds)
            for _ in range(rounds):
                for label, target, command, text in cases:
                    lat, acked, answered = await _measure(target, deps, command, text, per_round, conc)
                    old = got[label]
                    got[label] = (old[0] + lat, old[1] + acked, old[2] + answered)
            for label, _target, _command, _text in cases:
                lat, acked, answered = got[label]
                p50, p99 = _pct(lat, 50), _pct(lat, 99)
                if ref is None:
                    ref = (p50, p99)
                print(f"{label:30} {conc:>4} {p50:8.2f} {p99:8.2f} {max(lat) * 1000:8.2f} "
                      f"{len(lat) / acked:8.0f} "
                      f"{answered or float('nan'):15.2f} {p50 / ref[0]:6.2f} "
                      f"{p99 / ref[1]:6.2f}", flush=True)
        print()
        print(f"idle RSS after start: bare Bolt app {idle['bare'] / MB:.1f} MB, "
              f"snapbot {idle['snapbot'] / MB:.1f} MB; after the runs: bare "
              f"{psutil.Process(bare_proc.pid).memory_info().rss / MB:.1f} MB, snapbot "
              f"{psutil.Process(snap_proc.pid).memory_info().rss / MB:.1f} MB")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


async def archive_throughput(size_mb: int) -> None:
    """snapbot's verified download into its archive store and its upload from there, against
    curl fetching and pushing the same archive over the same loopback."""
    import re
    import shutil

    from bot.archive_store import DirectoryArchiveStore
    from bot.archive_store.transfer import download_to_store, upload_from_store
    from bot.cloudify.client import CloudifyClient

    if shutil.which("curl") is None:
        print("archive throughput: curl not installed, skipped")
        return
    tmp = Path(tempfile.mkdtemp(prefix="snapbot-bench-tp-"))
    proc = subprocess.Popen([sys.executable, "-m", "devtools.simulator", "--host", "127.0.0.1", "--port", "0",
                             "--speed", "100", "--archive-size", str(size_mb * MB), "--data-dir", str(tmp / "sim")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        match = re.search(r"http://[\w.]+:\d+", proc.stdout.readline() if proc.stdout else "")
        if not match:
            raise SystemExit("the simulator did not start")
        url = match.group(0)
        async with CloudifyClient(url, password="admin") as client:
            await client.create_snapshot("tp")
            while (await client.get_snapshot("tp")).status != "created":
                await asyncio.sleep(0.2)
            api = f"{url}/api/v3.1/snapshots"
            auth = ["-s", "-f", "-u", "admin:admin", "-H", "Tenant: default_tenant"]
            rows = []

            t0 = time.perf_counter()
            subprocess.run(["curl", *auth, "-o", str(tmp / "curl.zip"), f"{api}/tp/archive"], check=True)
            rows.append(("download", "curl", time.perf_counter() - t0))
            store = DirectoryArchiveStore(tmp / "archives")
            t0 = time.perf_counter()
            info = await download_to_store(client, store, "bench", "tp")
            rows.append(("download", "snapbot (zip, sha256, sidecar)", time.perf_counter() - t0))

            t0 = time.perf_counter()
            subprocess.run(["curl", *auth, "-o", os.devnull, "-X", "PUT", "-T", str(tmp / "curl.zip"),
                            f"{api}/tp-curl/archive"], check=True)
            rows.append(("upload", "curl", time.perf_counter() - t0))
            t0 = time.perf_counter()
            await upload_from_store(client, store, "bench", "tp", "tp-snapbot")
            rows.append(("upload", "snapbot", time.perf_counter() - t0))
        print(f"archive throughput, {info.size / MB:.0f} MB over loopback:")
        for what, who, secs in rows:
            print(f"  {what:9} {who:32} {secs:6.2f} s  {info.size / MB / secs:7.1f} MB/s")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4, help="interleaved slices per row")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--archive-mb", type=int, default=ARCHIVE_MB, help="archive size for the "
                    "throughput figures (0 skips them)")
    ap.add_argument("--serve", choices=["deps", "snapbot", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--deps", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve == "deps":
        asyncio.run(serve_deps())
    elif args.serve == "snapbot":
        if os.environ.get("BENCH_PROFILE"):  # where the app's time goes: a cProfile dump at exit
            import cProfile
            import signal
            prof = cProfile.Profile()
            prof.enable()

            def dump(*_a: object) -> None:
                prof.disable()
                prof.dump_stats(os.environ["BENCH_PROFILE"])
                os._exit(0)
            signal.signal(signal.SIGTERM, dump)
        asyncio.run(serve_snapbot(json.loads(args.deps)))
    elif args.serve == "bare":
        asyncio.run(serve_bare(json.loads(args.deps)))
    else:
        asyncio.run(bench(args.requests, args.concurrency, args.rounds))
        if args.archive_mb:
            print()
            asyncio.run(archive_throughput(args.archive_mb))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
