"""Connecting to object storage: an obstore store for an `s3://` (or `gs://`, `az://`) URL,
configured from the standard AWS_* variables (or the instance's role when no keys are set)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from obstore.store import ObjectStore

if TYPE_CHECKING:  # obstore's typed dicts exist in its stubs only
    from obstore.store import ClientConfig, RetryConfig, S3Config

from bot.errors import ConfigError


def why(exc: BaseException) -> str:
    """A short reason without URLs' query strings or anything credential-like."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text.split("?")[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: Transient network errors (a blip, a reset, a 5xx) are retried with exponential backoff, from
#: 0.25 s up to 8 s apart, for at most 10 tries within 2 minutes of the first: a few seconds'
#: outage passes unnoticed, a lasting one fails the job with the store's error.
RETRY: RetryConfig = {
    "max_retries": 10, "retry_timeout": timedelta(seconds=120),
    "backoff": {"init_backoff": timedelta(seconds=0.25), "max_backoff": timedelta(seconds=8),
                "base": 2.0},
}


def build_store(url: str, env: Mapping[str, str], *,
                retry: Mapping[str, Any] | None = None) -> ObjectStore:
    """An obstore store for `url` (s3://, gs://, az://) configured from `env`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    bucket = parts.netloc
    prefix = parts.path.strip("/") or None
    if not bucket:
        raise ConfigError("archive.url", f"{url!r} names no bucket")
    retry_config: RetryConfig = cast("RetryConfig", dict(retry)) if retry else RETRY
    if scheme == "s3":
        from obstore.store import S3Store
        config: S3Config = {}
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        if env.get("AWS_ACCESS_KEY_ID"):
            config["access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        if env.get("AWS_SECRET_ACCESS_KEY"):
            config["secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            config["session_token"] = env["AWS_SESSION_TOKEN"]
        if endpoint and not endpoint.startswith("https://"):
            # path-style addressing for local S3-compatible stores (MinIO, moto, …)
            config["virtual_hosted_style_request"] = False
        client_options: ClientConfig = {
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": timedelta_s(10), "timeout": timedelta_s(300)}
        try:
            return S3Store(bucket, prefix=prefix, config=config, client_options=client_options,
                           retry_config=retry_config)
        except Exception as exc:
            raise ConfigError("archive.url", f"cannot use {url}: {why(exc)}") from None
    if scheme in ("gs", "az", "azure", "abfs", "abfss"):
        from obstore.store import from_url
        try:
            store: ObjectStore = from_url(url, retry_config=retry_config)
        except Exception as exc:
            raise ConfigError("archive.url", f"cannot use {url}: {why(exc)}") from None
        return store
    raise ConfigError("archive.url", f"unsupported scheme {scheme!r} (s3://, gs://, az:// or a directory)")


def timedelta_s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
