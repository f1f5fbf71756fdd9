"""Checking a zip as its bytes stream past, in one pass and bounded memory: every member's
CRC-32 (stored, deflated or bzip2), and a central directory that lists exactly the members seen.

An object store can then verify an archive while uploading it, or re-verify it with one
streaming GET, instead of reading it back by hundreds of ranged requests.
"""
from __future__ import annotations

import bz2
import struct
import zlib
from typing import Any

from bot.errors import ArchiveError

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_DESCRIPTOR = b"PK\x07\x08"
_EOCD = b"PK\x05\x06"
_ZIP64_EOCD = b"PK\x06\x06"
_LOCAL_FIXED = 30
#: the central directory of a snapshot is small; refuse a pathological one rather than buffer it
MAX_TAIL = 64 * 1024 * 1024


class ZipStreamCheck:
    """Feed the archive's bytes in order with `feed`, then call `finish` (raises ArchiveError
    naming what is wrong); `names` lists the members once finished."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.names: list[str] = []
        self._buf = bytearray()
        self._state = "header"
        self._member: dict[str, Any] = {}
        self._tail = bytearray()

    def _bad(self, why: str) -> ArchiveError:
        return ArchiveError(f"{self.name} is not a valid zip archive ({why})")

    def feed(self, data: bytes) -> None:
        if self._state == "tail":
            self._tail += data
            if len(self._tail) > MAX_TAIL:
                raise self._bad("central directory too large")
            return
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Advance over what is buffered; False when more bytes are needed."""
        buf = self._buf
        if self._state == "header":
            if len(buf) < 4:
                return False
            sig = bytes(buf[:4])
            if sig in (_CENTRAL, _ZIP64_EOCD, _EOCD):
                self._state = "tail"
                self._tail = bytearray(buf)
                self._buf = bytearray()
                return False
            if sig != _LOCAL:
                raise self._bad("bad local header" if self.names else "no zip header")
            if len(buf) < _LOCAL_FIXED:
                return False
            (_, _, flags, method, _, _, crc, csize, usize, nlen, elen) = struct.unpack(
                "<4sHHHHHIIIHH", bytes(buf[:_LOCAL_FIXED]))
            if len(buf) < _LOCAL_FIXED + nlen + elen:
                return False
            name = bytes(buf[_LOCAL_FIXED:_LOCAL_FIXED + nlen]).decode("utf-8" if flags & 0x800 else "cp437")
            extra = bytes(buf[_LOCAL_FIXED + nlen:_LOCAL_FIXED + nlen + elen])
            zip64 = False
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                usize, csize, zip64 = *_zip64_sizes(extra, usize, csize), True
            if flags & 0x1:
                raise self._bad(f"member {name!r} is encrypted")
            if method == 0:
                decomp: Any = None
            elif method == 8:
                decomp = zlib.decompressobj(-15)
            elif method == 12:
                decomp = bz2.BZ2Decompressor()
            else:
                raise self._bad(f"member {name!r} uses compression method {method}")
            descriptor = bool(flags & 0x8)
            if descriptor and method == 0:
                raise self._bad(f"stored member {name!r} has no size in its header")
            self._member = {"name": name, "crc": crc, "left": None if descriptor else csize,
                            "decomp": decomp, "out_crc": 0, "descriptor": descriptor,
                            "zip64": zip64}
            del buf[:_LOCAL_FIXED + nlen + elen]
            self._state = "data"
            return True
        if self._state == "data":
            m = self._member
            if not buf:
                return False
            if m["left"] is not None:
                take = min(len(buf), m["left"])
                piece = bytes(buf[:take])
                del buf[:take]
                m["left"] -= take
                self._consume(piece)
                if m["left"] == 0:
                    self._end_member()
                return True
            # size unknown (data descriptor): the deflate stream tells where it ends
            piece = bytes(buf)
            buf.clear()
            self._consume(piece)
            d = m["decomp"]
            if d.eof:
                self._buf = bytearray(d.unused_data)
                self._state = "descriptor"
            return True
        if self._state == "descriptor":
            m = self._member
            need = (4 if bytes(buf[:4]) == _DESCRIPTOR else 0) + 4 + (16 if m["zip64"] else 8)
            if len(buf) < need:
                return False
            off = need - (16 if m["zip64"] else 8) - 4
            m["crc"] = struct.unpack("<I", bytes(buf[off:off + 4]))[0]
            del buf[:need]
            self._end_member()
            return True
        return False

    def _consume(self, piece: bytes) -> None:
        m = self._member
        d = m["decomp"]
        try:
            out = piece if d is None else d.decompress(piece)
        except (zlib.error, OSError, EOFError) as exc:
            raise ArchiveError(f"{self.name}: member {m['name']!r} is corrupt ({exc})") from None
        m["out_crc"] = zlib.crc32(out, m["out_crc"])

    def _end_member(self) -> None:
        m = self._member
        d = m["decomp"]
        if d is not None and m["left"] is not None:
            try:
                rest = d.flush() if isinstance(d, type(zlib.decompressobj())) else b""
            except zlib.error as exc:
                raise ArchiveError(f"{self.name}: member {m['name']!r} is corrupt ({exc})") from None
            m["out_crc"] = zlib.crc32(rest, m["out_crc"])
            if not d.eof:
                raise ArchiveError(f"{self.name}: member {m['name']!r} is corrupt (truncated)")
        if (m["out_crc"] & 0xFFFFFFFF) != m["crc"]:
            raise ArchiveError(f"{self.name}: member {m['name']!r} is corrupt")
        self.names.append(m["name"])
        self._member = {}
        self._state = "header"

    def finish(self) -> list[str]:
        if self._state != "tail":
            raise self._bad("truncated" if self.names or self._buf or self._member else "empty")
        tail = bytes(self._tail)
        eocd = tail.rfind(_EOCD)
        if eocd < 0 or len(tail) - eocd < 22:
            raise self._bad("no end of central directory")
        entries = struct.unpack("<H", tail[eocd + 10:eocd + 12])[0]
        central, pos = [], 0
        while tail.startswith(_CENTRAL, pos):
            if pos + 46 > len(tail):
                raise self._bad("truncated central directory")
            flags = struct.unpack("<H", tail[pos + 8:pos + 10])[0]
            nlen, elen, clen = struct.unpack("<HHH", tail[pos + 28:pos + 34])
            central.append(tail[pos + 46:pos + 46 + nlen].decode("utf-8" if flags & 0x800 else "cp437"))
            pos += 46 + nlen + elen + clen
        if central != self.names or (entries != 0xFFFF and entries != len(central) % 0x10000):
            raise self._bad("the central directory does not match the members")
        return self.names


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[pos:pos + 4])
        if tag == 0x0001:
            data = extra[pos + 4:pos + 4 + size]
            vals = [struct.unpack("<Q", data[i:i + 8])[0] for i in range(0, len(data) - 7, 8)]
            i = 0
            if usize == 0xFFFFFFFF and i < len(vals):
                usize, i = vals[i], i + 1
            if csize == 0xFFFFFFFF and i < len(vals):
                csize = vals[i]
            return usize, csize
        pos += 4 + size
    return usize, csize
