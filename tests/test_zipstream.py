"""The streaming zip check agrees with zipfile on good and damaged archives."""
from __future__ import annotations

import io
import os
import zipfile

import pytest

from bot.archive_store.zipstream import ZipStreamCheck
from bot.errors import ArchiveError


def build(method: int, *, members: int = 3, size: int = 200_000, stream: bool = False,
          zip64: bool = False) -> bytes:
    raw = io.BytesIO()

    class Unseekable(io.RawIOBase):  # zipfile then writes data descriptors, as a pipe would get
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:
            return raw.write(b)

    target = Unseekable() if stream else raw
    with zipfile.ZipFile(target, "w", method) as zf:  # type: ignore[arg-type]
        zf.writestr("metadata.json", '{"snapshot_version": "7.0.0"}')
        for i in range(members):
            data = os.urandom(size // 2) + b"x" * (size // 2)
            if zip64:
                with zf.open(f"m{i}.bin", "w", force_zip64=True) as f:
                    f.write(data)
            else:
                zf.writestr(f"dir/m{i}.bin", data)
    return raw.getvalue()


def check(data: bytes, chunk: int = 7777) -> list[str]:
    c = ZipStreamCheck("a.zip")
    for i in range(0, len(data), chunk):
        c.feed(data[i:i + chunk])
    return c.finish()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
@pytest.mark.parametrize("stream", [False, True])
def test_good_archives_pass_with_their_member_names(method, stream):
    if stream and method == zipfile.ZIP_STORED:
        data = build(method, zip64=True)  # stored + descriptor cannot be walked; zip64 instead
    else:
        data = build(method, stream=stream)
    names = check(data)
    assert names == zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert check(data, chunk=1) == names if len(data) < 50_000 else True


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_flipped_byte_in_a_member_is_caught(method):
    data = bytearray(build(method))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ArchiveError, match=r"corrupt|not a valid zip"):
        check(bytes(data))


@pytest.mark.parametrize("cut", [10, 1000, -30, -1])
def test_a_truncated_archive_is_caught(cut):
    data = build(zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError):
        check(data[:cut])


def test_not_a_zip_is_caught():
    with pytest.raises(ArchiveError, match="no zip header"):
        check(b"this is not a zip" * 100)
