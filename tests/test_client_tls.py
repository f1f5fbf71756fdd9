"""HTTPS with a per-manager CA bundle (production managers use their own CA)."""
from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from aiohttp import web

from bot import errors
from bot.cloudify.client import CloudifyClient
from handlers.server import start_http

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


@pytest.fixture
async def tls_manager(cert):
    """A minimal HTTPS endpoint answering /api/v3.1/version like a manager behind its own CA."""
    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": "7.0.0", "edition": "premium"})
    app = web.Application()
    app.router.add_get("/api/v3.1/version", version)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    server = await start_http(app, ssl_context=ctx)
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_ca_bundle_lets_the_client_trust_the_managers_certificate(tls_manager, cert):
    async with CloudifyClient(tls_manager, password="admin", ca_bundle=str(cert[0])) as c:
        assert (await c.version()).version == "7.0.0"


async def test_without_the_ca_bundle_the_certificate_is_rejected_with_a_clear_message(tls_manager):
    async with CloudifyClient(tls_manager, password="admin", retries=0) as c:
        with pytest.raises(errors.ManagerUnavailable) as info:
            await c.version()
    assert "CA bundle" in str(info.value)


async def test_verify_tls_false_skips_verification(tls_manager):
    async with CloudifyClient(tls_manager, password="admin", verify_tls=False) as c:
        assert (await c.version()).version == "7.0.0"


def test_a_missing_ca_bundle_is_a_config_error_naming_the_setting(tmp_path):
    with pytest.raises(errors.ConfigError) as info:
        CloudifyClient("https://127.0.0.1:1", ca_bundle=str(tmp_path / "missing.pem"))
    assert info.value.key == "ca_bundle" and "missing.pem" in str(info.value)
