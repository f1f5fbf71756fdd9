"""Where archived snapshot copies live: a directory or object storage, behind one interface."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.archive_store.base import ArchiveStore, StoredArchive, StoredBlob, file_chunks
from bot.archive_store.directory import DirectoryArchiveStore

__all__ = ["ArchiveStore", "DirectoryArchiveStore", "StoredArchive", "StoredBlob", "file_chunks",
           "is_object_url", "open_archive_store"]

_OBJECT_SCHEMES = ("s3://", "gs://", "az://", "azure://", "abfs://", "abfss://")


def is_object_url(location: str) -> bool:
    return location.lower().startswith(_OBJECT_SCHEMES)


def open_archive_store(location: str, env: Mapping[str, str], *,
                       retry: Mapping[str, Any] | None = None) -> ArchiveStore:
    """The store for `location`: `s3://bucket/prefix` (or gs://, az://) or a directory path
    (a `file://` URL is taken as its path)."""
    if is_object_url(location):
        from bot.archive_store.connect import build_store
        from bot.archive_store.objectstore import ObjectArchiveStore
        return ObjectArchiveStore(build_store(location, env, retry=retry), location)
    location = location.removeprefix("file://")
    return DirectoryArchiveStore(location)
