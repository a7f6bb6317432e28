"""Read an 837P/837I file: bytes in, rows and rejections out. Never raises on bad input.

The envelopes nest ISA > GS > ST. A structural error rejects the smallest unit that holds it:
a bad ST/SE or claim structure rejects that transaction set, a bad GS/GE its functional group,
a bad or incomplete ISA/IEA its interchange, and a file with no readable interchange is
rejected as a whole. Rows of a unit are kept only when the unit and all its envelopes are sound.

This module is the envelope reader (ISA/IEA, GS/GE, and where each ST begins); ``transaction`` reads
each 837 transaction set's loops. Both walk one ``cursor.SegmentCursor`` per interchange.
"""

from __future__ import annotations

import gc
import os
from hashlib import sha256

from claimaudit.model import ParseResult, Rejection
from claimaudit.x12 import dates
from claimaudit.x12.cursor import SegmentCursor, element
from claimaudit.x12.segments import InterchangeText, iter_interchanges
from claimaudit.x12.transaction import (
    TransactionContext,
    TransactionRejected,
    TransactionRows,
    read_transaction,
)

_UTF8_BOM = b"\xef\xbb\xbf"
_ARCHIVES = {b"\x1f\x8b": "a gzip archive", b"PK\x03\x04": "a zip archive", b"%PDF": "a PDF document"}


def parse_path(path: str | os.PathLike) -> ParseResult:
    with open(path, "rb") as fh:
        data = fh.read()
    return parse_bytes(data, os.path.basename(os.fspath(path)))


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    digest = sha256(data).hexdigest()
    result = ParseResult(source_file=source_file, file_sha256=digest)

    def reject_file(reason: str) -> ParseResult:
        result.rejections.append(Rejection(source_file, digest, "file", "", "", None, "", reason))
        return result

    problem = _file_problem(data)
    if problem:
        return reject_file(problem)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    # Latin-1 maps every byte to one character: decoding cannot fail, offsets stay byte offsets,
    # and accented names in non-ASCII files survive for the patient hash.
    text = data.decode("latin-1")
    # Rows hold no reference cycles; pausing the cyclic GC while hundreds of thousands are made
    # saves its repeated scans of the growing lists (about 10% of the time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_text(text, result, reject_file)
    except Exception as exc:  # noqa: BLE001 - a reader bug must not crash the batch or lose the file
        result.envelopes.clear(), result.claims.clear(), result.lines.clear(), result.diagnoses.clear()
        result.rejections.clear()
        return reject_file(f"the parser failed on this file ({type(exc).__name__}: {exc}); "
                           "this is a parser bug, please report it with the file")
    finally:
        if gc_was_enabled:
            gc.enable()


def _parse_text(text: str, result: ParseResult, reject_file) -> ParseResult:
    position = 0  # segments seen so far in the file (1-based positions in rejections)
    found = False
    last_end = 0
    for offset, ic in iter_interchanges(text):
        found = True
        position = _read_interchange(ic, position, result)
        last_end = offset
    if not found:
        return reject_file(_no_isa_reason(text))
    _check_trailing(text, last_end, result)
    return result


def _file_problem(data: bytes) -> str:
    """Reasons that apply to the whole file before any X12 reading."""
    if not data:
        return "the file is empty (0 bytes)"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(data[:400]):
        return ("the file is UTF-16 encoded (a NUL byte beside every character); X12 files must be "
                "single-byte ASCII/Latin-1: re-export the file as ASCII")
    for magic, what in _ARCHIVES.items():
        if data.startswith(magic):
            return f"the file is {what}, not X12 text: unpack it before delivery"
    if not data.strip() or data.strip() == _UTF8_BOM:
        return f"the file holds only whitespace ({len(data)} bytes), no X12 content"
    return ""


def _looks_utf16(head: bytes) -> bool:
    if len(head) < 8:
        return False
    zeros_even = head[0::2].count(0)
    zeros_odd = head[1::2].count(0)
    half = len(head) // 2
    return max(zeros_even, zeros_odd) > half * 0.4 and min(zeros_even, zeros_odd) < half * 0.1


def _no_isa_reason(text: str) -> str:
    head = text[:512]
    # X12 may use control characters as delimiters, so binary is judged only when no ISA exists.
    binary = sum(1 for c in head if (ord(c) < 32 and c not in "\t\r\n") or 0x7F <= ord(c) < 0xA0)
    if binary > len(head) * 0.05:
        return (f"not an X12 file: {binary} of the first {len(head)} bytes are control bytes "
                "(binary, compressed or random data) and no ISA header was found")
    first = head.lstrip()[:3]
    if first.startswith(("GS", "ST")) and len(first) > 2 and not first[2].isalnum():
        return (f"no ISA interchange header: the file starts with a {first[:2]} segment; "
                "the ISA that carries the delimiters and sender is missing")
    return "not an X12 file: no ISA interchange header found"


def _check_trailing(text: str, last_isa: int, result: ParseResult) -> None:
    """Nothing is silently lost: X12-looking text after the last IEA is reported."""
    # Cheap check: does any CLM segment appear after the last readable interchange's IEA?
    tail_start = text.rfind("IEA", last_isa)
    if tail_start < 0:
        return
    tail = text[tail_start:]
    for marker in ("CLM", "ST"):
        i = tail.find(marker, 3)
        while i >= 0:
            if i + len(marker) < len(tail) and not tail[i + len(marker)].isalnum() \
                    and not tail[i + len(marker)].isspace() and (i == 0 or not tail[i - 1].isalnum()):
                result.rejections.append(Rejection(
                    result.source_file, result.file_sha256, "file", "", "", None, "",
                    f"X12 segments ({marker}) after the last IEA, outside any interchange: they are not read",
                ))
                return
            i = tail.find(marker, i + 1)


def _read_interchange(ic: InterchangeText, position: int, result: ParseResult) -> int:
    """Read one interchange into ``result``; returns the file's segment count after it."""
    source_file, digest = result.source_file, result.file_sha256

    def reject(unit: str, isa13: str, st02: str, index: int | None, seg_id: str, reason: str) -> None:
        pos = position + index + 1 if index is not None else None
        result.rejections.append(Rejection(source_file, digest, unit, isa13, st02, pos, seg_id, reason))

    if ic.header is None:
        reject("interchange", "", "", 0, "ISA", ic.problem)
        return position + 1
    cur = SegmentCursor(ic.segments)
    fields = ic.header.fields
    isa13 = fields[13]
    el = ic.header.delimiters.element
    if ic.problem:
        n = cur.drain()
        last = n - 1
        last_id = cur.last.split(el, 1)[0]
        reason = (f"interchange {isa13} is incomplete: {ic.problem} (last segment read: "
                  f"{last_id}); the file is truncated or cut")
        reject("interchange", isa13, "", last, last_id, reason)
        return position + n

    sender = fields[6].strip()
    receiver = fields[8].strip()
    isa_date = dates.yymmdd(fields[9])
    accepted: list[TransactionRows] = []
    rejections: list[Rejection] = []
    groups = 0
    problem: tuple[int, str, str] | None = None  # interchange-level (index, segment id, reason)
    cur.next()  # the ISA
    while True:
        seg = cur.next()
        if seg is None:
            break
        k = cur.k - 1
        f = seg.split(el)
        sid = f[0]
        if sid == "GS":
            groups += 1
            _read_group(cur, k, f, ic, sender, receiver, isa_date, result, position, accepted, rejections)
            continue
        if sid == "IEA":
            iea01, iea02 = element(f, 1), element(f, 2)
            if iea02 != isa13:
                problem = (k, "IEA", f"IEA02 control number {iea02!r} does not match ISA13 {isa13!r}")
            elif not (iea01.isascii() and iea01.isdecimal() and int(iea01) == groups):
                problem = (k, "IEA", f"IEA01 says {iea01 or '(blank)'} functional groups but the interchange has {groups}")
            break
        if sid == "TA1":  # interchange acknowledgment request: allowed between groups
            continue
        problem = (k, sid, f"segment {sid} outside any functional group (GS..GE)")
        break
    n = cur.drain()
    if problem is not None:
        index, seg_id, reason = problem
        reject("interchange", isa13, "", index, seg_id, f"interchange {isa13} rejected: {reason}")
        return position + n
    for rows in accepted:
        result.envelopes.append(rows.envelope)
        result.claims.extend(rows.claims)
        result.lines.extend(rows.lines)
        result.diagnoses.extend(rows.diagnoses)
    result.rejections.extend(rejections)
    return position + n


def _read_group(cur: SegmentCursor, gs_index: int, gs: list[str], ic: InterchangeText, sender, receiver, isa_date,
                result: ParseResult, position, accepted: list, rejections: list) -> None:
    """Read GS..GE, the GS being already read at ``gs_index``; appends to ``accepted``/``rejections``."""
    el = ic.header.delimiters.element
    isa13 = ic.header.fields[13]
    gs06 = element(gs, 6)
    ctx = TransactionContext(
        source_file=result.source_file,
        file_sha256=result.file_sha256,
        interchange_control=isa13,
        sender_id=sender,
        receiver_id=receiver,
        interchange_date=isa_date,
        group_control=gs06,
        version=element(gs, 8),
        delimiters=ic.header.delimiters,
    )
    group_rows: list[TransactionRows] = []
    group_rejections: list[Rejection] = []
    count = 0
    problem: tuple[int, str, str] | None = None
    while True:
        seg = cur.next()
        if seg is None:
            problem = (cur.k - 1, cur.last.split(el, 1)[0], "the interchange ends inside the group (no GE)")
            break
        k = cur.k - 1
        sid = seg.split(el, 1)[0]
        if sid == "ST":
            count += 1
            out = read_transaction(seg, cur, ctx)
            if isinstance(out, TransactionRejected):
                group_rejections.append(Rejection(
                    result.source_file, result.file_sha256, "transaction", isa13, out.transaction_control,
                    position + out.index + 1, out.segment_id,
                    f"transaction set {out.transaction_control} rejected: {out.reason}",
                ))
            else:
                group_rows.append(out)
            continue
        if sid == "GE":
            f = seg.split(el)
            ge01, ge02 = element(f, 1), element(f, 2)
            if ge02 != gs06:
                problem = (k, "GE", f"GE02 control number {ge02!r} does not match GS06 {gs06!r}")
            elif not (ge01.isascii() and ge01.isdecimal() and int(ge01) == count):
                problem = (k, "GE", f"GE01 says {ge01 or '(blank)'} transaction sets but the group has {count}")
            break
        if sid in ("GS", "IEA", "ISA"):
            problem = (k, sid, f"group {gs06} has no GE before this {sid} segment")
            cur.push_back(seg)
            break
        problem = (k, sid, f"segment {sid} between transaction sets (outside ST..SE)")
        # Resume after the group's GE, or at the next GS / IEA.
        while True:
            seg = cur.next()
            if seg is None:
                break
            sid = seg.split(el, 1)[0]
            if sid == "GE":
                break
            if sid == "GS" or sid == "IEA":
                cur.push_back(seg)
                break
        break
    if problem is not None:
        index, seg_id, reason = problem
        rejections.append(Rejection(
            result.source_file, result.file_sha256, "group", isa13, "", position + index + 1, seg_id,
            f"functional group {gs06} (GS at segment {position + gs_index + 1}) rejected: {reason}",
        ))
        return
    accepted.extend(group_rows)
    rejections.extend(group_rejections)
