"""A real S3 protocol server on loopback (moto in server mode, in its own process so its
memory never counts against ours), and a TCP relay that can cut connections mid-transfer."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

import boto3

KEY_ID, SECRET = "snapbot-test-key", "snapbot-test-secret"
REGION = "us-east-1"


def _serve() -> None:  # runs in the child process
    import threading

    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"moto http://{host}:{port}", flush=True)
    # run until our parent closes stdin
    threading.Thread(target=sys.stdin.read, daemon=True).start()
    sys.stdin.read()
    server.stop()


@contextmanager
def moto_process() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-c", "from tests.s3_support import _serve; _serve()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"http://[\d.]+:\d+", line)
        assert match, f"moto did not start: {line!r}"
        yield match.group(0)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def env_for(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET}


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)


def new_bucket(endpoint: str) -> str:
    name = f"snapbot-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def keys(endpoint: str, bucket: str) -> list[str]:
    """Every object in the bucket, as the S3 API lists it (not through snapbot)."""
    out = []
    for page in s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


class CuttingRelay:
    """A loopback TCP relay in front of a server: after `cut_after` bytes have gone upstream
    (client → server) it closes every connection, and refuses to carry any further one, as if
    the network between the bot and the store had gone away mid-upload."""

    def __init__(self, upstream: str, cut_after: int) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.cut_after = cut_after
        self.sent = 0
        self.cut = asyncio.Event()
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        self.cut.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut.is_set():
            writer.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection(self.host, self.port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream:
                        self.sent += len(data)
                        if self.sent > self.cut_after:
                            self.cut.set()
                    if self.cut.is_set():
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass

        async def watch() -> None:
            await self.cut.wait()

        tasks = [asyncio.ensure_future(pump(reader, up_w, True)),
                 asyncio.ensure_future(pump(up_r, writer, False)), asyncio.ensure_future(watch())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        writer.transport.abort()
        up_w.transport.abort()


class BlippingRelay:
    """A loopback TCP relay in front of a server whose network can blip: `blip(seconds)` cuts
    every open connection and refuses new ones until `seconds` have passed, then carries them
    again. `on_upstream(n)` is called with the bytes sent upstream so far (to blip mid-upload)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.sent = 0
        self.down_until = 0.0
        self.refused = 0
        self.trigger: tuple[int, float] | None = None  # (after bytes, seconds): blip once then
        #: go down for good when an upstream request's head matches (e.g. b"x-amz-copy-source")
        self.cut_on: bytes | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self._writers):
            w.transport.abort()

    def blip(self, seconds: float) -> None:
        self.down_until = asyncio.get_running_loop().time() + seconds
        for w in list(self._writers):
            w.transport.abort()

    def restore(self) -> None:
        self.down_until = 0.0

    def _down(self) -> bool:
        return asyncio.get_running_loop().time() < self.down_until

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down():
            self.refused += 1
            writer.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, up_w}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream:
                        self.sent += len(data)
                        if self.trigger is not None and self.sent > self.trigger[0]:
                            seconds, self.trigger = self.trigger[1], None
                            self.blip(seconds)
                        if self.cut_on is not None and self.cut_on in data[:4096].lower():
                            self.cut_on = None
                            self.blip(1e9)  # the network is gone until `restore()`
                    if self._down():
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass

        tasks = [asyncio.ensure_future(pump(reader, up_w, True)),
                 asyncio.ensure_future(pump(up_r, writer, False))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        self._writers -= {writer, up_w}
        writer.transport.abort()
        up_w.transport.abort()
