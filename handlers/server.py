"""The one way snapbot starts an aiohttp server: `start_http(app, host, port)` returns the bound
address (port 0 picks a free one), read from aiohttp's public `AppRunner.addresses`."""
from __future__ import annotations

import ssl
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class HttpServer:
    """A started aiohttp application; `close()` stops it."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


def bound_port(runner: web.BaseRunner) -> int:
    """The TCP port a started runner listens on."""
    addresses = runner.addresses
    if not addresses:
        raise RuntimeError("the server is not listening")
    return int(addresses[0][1])


async def start_http(app: web.Application, host: str = "127.0.0.1", port: int = 0, *,
                     reuse_address: bool | None = None, handle_signals: bool = False,
                     ssl_context: ssl.SSLContext | None = None) -> HttpServer:
    """Serve `app` on host:port until `close()`; access logs off. (With `ssl_context` the
    server speaks HTTPS; `url` still says http: build the https URL from `port`.)"""
    runner = web.AppRunner(app, access_log=None, handle_signals=handle_signals)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=reuse_address, ssl_context=ssl_context)
        await site.start()
        return HttpServer(runner=runner, host=host, port=bound_port(runner))
    except BaseException:
        await runner.cleanup()
        raise
