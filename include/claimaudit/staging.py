"""Files that carry a step's large result to the next step (XCom only carries their paths).

The staging location (a folder or object storage, staging_store.py) is shared by the workers, so a
staged file is data, never code: JSON lines,
no pickle (a planted pickle would run its code in whichever task read it). The first line is a
header naming the format and its version, checked before the rest of the file is parsed; each
further line is one section (envelopes, claims, ...) with its column names and its rows.

Rows travel as plain lists in the model's field order and come back as tuples (the loader's
bulk path takes tuples; the model's slots dataclasses would cost a Python call per row), findings
as ``Finding`` rows. Dates are written as ISO text and turned back into dates by column. Every write goes to a temporary
name first, so a half-written file is never read.
"""

from __future__ import annotations

import gc
import json
import typing
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import msgspec

from claimaudit import staging_store
from claimaudit.errors import PipelineStateError
from claimaudit.model import (Claim, Diagnosis, Envelope, Finding, ParseResult, Rejection, ServiceLine, as_tuples,
                              columns)

FORMAT = "claimaudit-stage"
VERSION = 4  # JSON lines (version 2 was a pickle; 3 staged findings as dicts)
_ROW_TYPES = {"envelopes": Envelope, "claims": Claim, "lines": ServiceLine, "diagnoses": Diagnosis,
              "rejections": Rejection}
_MAX_HEADER = 1 << 16  # the header line is small; a file without one is not read further


def _row_tuple(row_type: type):
    """tuple[...] of the dataclass's field types: msgspec decodes JSON arrays straight into typed
    tuples (dates included) in C, about ten times faster than json.loads and a loop."""
    hints = typing.get_type_hints(row_type)
    return tuple.__class_getitem__(tuple(hints[f.name] for f in fields(row_type)))


def _shared_columns(row_type: type, unique: frozenset[str] = frozenset()) -> tuple[int, ...]:
    """Positions of the text and date columns, whose values repeat from row to row (but ``unique``)."""
    hints = typing.get_type_hints(row_type)
    return tuple(i for i, f in enumerate(fields(row_type))
                 if hints[f.name] in (str, date, date | None) and f.name not in unique)


def _share_repeats(rows: list, shared: tuple[int, ...]) -> list:
    """The rows with equal values in the ``shared`` columns made one object. JSON decoding makes a
    new str or date per occurrence, so a month onboarded at once carried one copy of its file's
    name, sender and payer per claim: twice the memory of the rows themselves (issue 18)."""
    if not rows:
        return rows
    columns_ = list(zip(*rows))
    for i in shared:
        seen: dict = {}
        columns_[i] = list(map(seen.setdefault, columns_[i], columns_[i]))
    return list(zip(*columns_))


# A section line: [name, column names, rows].
_SECTION_TYPES = {name: tuple[str, list[str], list[_row_tuple(row_type)]] for name, row_type in _ROW_TYPES.items()}
_FINDINGS_TYPE = tuple[str, list[str], list[_row_tuple(Finding)]]
# A claim's key and CLM01 are its own; on lines and diagnoses they repeat per claim.
_SHARED = {name: _shared_columns(row_type, frozenset({"claim_key", "claim_id"} if row_type is Claim else ()))
           for name, row_type in _ROW_TYPES.items()}
_encoder = msgspec.json.Encoder()


def _atomic_write(path: Path | str, data: bytes) -> None:
    # issue 18: through staging_store, so ``path`` may be a local path or an object-store URL.
    staging_store.write_bytes(str(path), data)


def _dump(obj) -> bytes:
    return _encoder.encode(obj) + b"\n"


def write_json(obj, path: Path) -> None:
    """A step's small summary (the parse manifest load_history reads), sorted keys."""
    _atomic_write(path, json.dumps(obj, sort_keys=True).encode())


def _write_stage(kind: str, header: dict, sections: list[tuple[str, tuple[str, ...], list]], path: Path) -> None:
    parts = [_dump({"format": FORMAT, "version": VERSION, "kind": kind, **header})]
    for name, names, rows in sections:
        parts.append(_dump((name, list(names), rows)))
    _atomic_write(path, b"".join(parts))


def _open_stage(path: Path | str, kind: str):
    """The header of a staged file, checked before anything else in it is parsed, and the open file."""
    fh = staging_store.open_read(str(path))
    try:
        first = fh.readline(_MAX_HEADER)
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not (isinstance(header, dict) and header.get("format") == FORMAT and header.get("version") == VERSION
                and header.get("kind") == kind):
            raise PipelineStateError(f"{path}: not a staged {kind} of {FORMAT} version {VERSION}; rerun the day "
                                     "from its parse step")
        return header, fh
    except BaseException:
        fh.close()
        raise


def _section(fh, path: Path, name: str, kind):
    raw = fh.readline()
    try:
        got, names, rows = msgspec.json.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PipelineStateError(f"{path}: staged section {name} cannot be read ({exc}); rerun the day from "
                                 "its parse step") from None
    if got != name:
        raise PipelineStateError(f"{path}: staged section {got!r} where {name!r} was expected; rerun the day "
                                 "from its parse step")
    return names, rows


def write_parse_result(result: ParseResult, path: Path) -> None:
    sections = []
    for name, row_type in _ROW_TYPES.items():
        # The column names travel with the rows: a stage written before a model change fails loudly.
        names = columns(row_type)
        sections.append((name, names, as_tuples(getattr(result, name), names)))
    _write_stage("parse-result", {"source_file": result.source_file, "file_sha256": result.file_sha256},
                 sections, path)


@dataclass
class StagedRows:
    """A staged parse result as the loader takes it: envelopes and rejections as model objects,
    claims, lines and diagnoses as tuples in the model's field order (no object per row)."""

    source_file: str
    file_sha256: str
    envelopes: list[Envelope]
    claims: list[tuple]
    lines: list[tuple]
    diagnoses: list[tuple]
    rejections: list[Rejection]


def _payload(path: Path) -> dict:
    header, fh = _open_stage(path, "parse-result")
    payload = {"source_file": header["source_file"], "file_sha256": header["file_sha256"]}
    # Millions of new tuples would trigger the cyclic GC over and over (they hold no cycles).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with fh:
            for name, row_type in _ROW_TYPES.items():
                names, rows = _section(fh, path, name, _SECTION_TYPES[name])
                if tuple(names) != columns(row_type):
                    raise PipelineStateError(f"{path}: staged {name} columns {names} differ from the model's; "
                                             "rerun the day from its parse step")
                payload[name] = _share_repeats(rows, _SHARED[name])
    finally:
        if gc_was_enabled:
            gc.enable()
    return payload


def read_staged_rows(path: Path) -> StagedRows:
    payload = _payload(path)
    return StagedRows(
        source_file=payload["source_file"], file_sha256=payload["file_sha256"],
        envelopes=[Envelope(*row) for row in payload["envelopes"]], claims=payload["claims"],
        lines=payload["lines"], diagnoses=payload["diagnoses"],
        rejections=[Rejection(*row) for row in payload["rejections"]])


def read_parse_result(path: Path) -> ParseResult:
    payload = _payload(path)
    result = ParseResult(source_file=payload["source_file"], file_sha256=payload["file_sha256"])
    for name, row_type in _ROW_TYPES.items():
        setattr(result, name, [row_type(*row) for row in payload[name]])
    return result


def write_object(findings: list[Finding], path: Path) -> None:
    """A rule share's findings as a staged file."""
    names = columns(Finding)
    _write_stage("findings", {}, [("findings", names, as_tuples(findings, names))], path)


def read_object(path: Path) -> list[Finding]:
    _header, fh = _open_stage(path, "findings")
    with fh:
        names, rows = _section(fh, path, "findings", _FINDINGS_TYPE)
    if tuple(names) != columns(Finding):
        raise PipelineStateError(f"{path}: staged findings columns {names} differ from the model's; rerun the day")
    return [Finding(*row) for row in rows]
