"""Compressed deliveries: a ``.zip`` or ``.gz`` is unpacked and each member audited as a file of
its own named ``archive!member``.

Archives come from outside, so everything is bounded: at most ``MAX_MEMBERS`` members, each at
most ``MAX_MEMBER_BYTES`` unpacked and all together ``MAX_TOTAL_BYTES``, and no member may
unpack to more than ``MAX_RATIO`` times its compressed size (a zip bomb gives itself away by
that ratio long before the size limit). Members are read in memory, never written by name, and
a name that tries to leave the folder (``../``, an absolute path) is refused. An archive inside
an archive is unpacked once more; deeper nesting is refused.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from claimaudit.safe_text import escape

MAX_MEMBER_BYTES = 1 << 30  # a very large day's single extract is a few hundred MB
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 200  # an 837 deflates 10-40x; zip bombs 1000x
MAX_MEMBERS = 10_000
MAX_DEPTH = 2  # the archive itself and one archive inside it
_CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Member:
    name: str  # "archive!member" (escaped), the name it is recorded and audited under
    data: bytes | None  # None when refused
    problem: str = ""  # why it was refused


class _TooBig(Exception):
    pass


def is_archive(data: bytes) -> bool:
    return data.startswith(GZIP_MAGIC) or data.startswith(ZIP_MAGIC)


class _Budget:
    def __init__(self):
        self.total = 0

    def take(self, n: int) -> None:
        self.total += n
        if self.total > MAX_TOTAL_BYTES:
            raise _TooBig(f"the archive unpacks to more than {MAX_TOTAL_BYTES >> 20} MiB in all")


def _read_capped(stream, compressed: int, budget: _Budget) -> bytes:
    cap = min(MAX_MEMBER_BYTES, max(compressed, 1) * MAX_RATIO)
    out = io.BytesIO()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return out.getvalue()
        out.write(chunk)
        budget.take(len(chunk))
        if out.tell() > cap:
            if cap == MAX_MEMBER_BYTES:
                raise _TooBig(f"unpacks to more than {MAX_MEMBER_BYTES >> 20} MiB")
            raise _TooBig(f"unpacks to more than {MAX_RATIO} times its compressed size ({compressed} bytes): "
                          "a zip bomb or not an extract")


class _GzipStream:
    """gzip members one after the other (as gunzip does), decompressed on demand with a bound."""

    def __init__(self, data: bytes):
        self.data = data
        self.d = zlib.decompressobj(wbits=31)
        self.pos = 0

    def read(self, n: int) -> bytes:
        while True:
            if self.d.unconsumed_tail:
                out = self.d.decompress(self.d.unconsumed_tail, n)
            elif self.d.eof:
                rest = self.d.unused_data
                if not rest.strip(b"\x00"):
                    return b""
                self.d = zlib.decompressobj(wbits=31)
                out = self.d.decompress(rest, n)
            elif self.pos < len(self.data):
                block = self.data[self.pos:self.pos + _CHUNK]
                self.pos += len(block)
                out = self.d.decompress(block, n)
            else:
                if not self.d.eof:
                    raise zlib.error("the gzip data ends early (truncated)")
                return b""
            if out:
                return out


def _safe_member_name(name: str) -> str:
    """"" when the member name stays inside the folder, else why not."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in p.parts:
        return "a path that leaves the archive's folder (..)"
    return ""


def unpack(name: str, data: bytes, depth: int = 1, budget: _Budget | None = None) -> list[Member]:
    """The members of archive ``data`` (named ``name``), each either with its bytes or refused."""
    budget = budget or _Budget()
    try:
        if data.startswith(GZIP_MAGIC):
            base = name.rsplit("!", 1)[-1]
            inner = base[:-3] if base.lower().endswith(".gz") else base + ".unpacked"
            member_data = _read_capped(_GzipStream(data), len(data), budget)
            members = [(f"{name}!{inner}", member_data)]
        else:
            members = list(_zip_members(name, data, budget))
    except _TooBig as exc:
        return [Member(name, None, f"archive refused: {exc}")]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        return [Member(name, None, f"archive cannot be unpacked: {escape(str(exc))}")]
    out: list[Member] = []
    for member_name, member in members:
        if isinstance(member, str):  # refused member
            out.append(Member(member_name, None, member))
        elif is_archive(member):
            if depth >= MAX_DEPTH:
                out.append(Member(member_name, None, "an archive inside an archive inside an archive: "
                                                     "nested more than once, refused"))
            else:
                out.extend(unpack(member_name, member, depth + 1, budget))
        else:
            out.append(Member(member_name, member))
    return out


def _zip_members(name: str, data: bytes, budget: _Budget):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise _TooBig(f"it holds {len(infos)} members, at most {MAX_MEMBERS} are read")
        for info in infos:
            shown = f"{name}!{escape(info.filename)}"
            problem = _safe_member_name(info.filename)
            if problem:
                yield shown, f"member name is {problem}: refused, nothing was unpacked"
                continue
            if info.flag_bits & 0x1:
                yield shown, "member is encrypted: cannot be read"
                continue
            if info.file_size > MAX_MEMBER_BYTES or info.file_size > max(info.compress_size, 1) * MAX_RATIO:
                yield shown, (f"member declares {info.file_size} bytes from {info.compress_size} compressed: "
                              "over the unpacking limits (a zip bomb?), refused")
                continue
            try:
                with zf.open(info) as fh:
                    yield shown, _read_capped(fh, info.compress_size, budget)
            except _TooBig as exc:
                yield shown, f"member refused: {exc}"
