"""Files that carry a step's large result to the next step (XCom only carries their paths).

Parse results are written with their rows as plain tuples. Pickling the model's slots
dataclasses goes through Python code per object: for a month of a large centre (a million
service lines) that cost 12 s to write and 16 s to read, against about 1 s each for tuples.
The loader takes the tuples as they are (``read_staged_rows``): it writes tuples anyway.
Every write goes to a temporary name first, so a half-written file is never read.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

from claimaudit import staging_store
from claimaudit.model import Claim, Diagnosis, Envelope, ParseResult, Rejection, ServiceLine, as_tuples, columns

FORMAT = "parse-result/2"
_ROW_TYPES = {"envelopes": Envelope, "claims": Claim, "lines": ServiceLine, "diagnoses": Diagnosis,
              "rejections": Rejection}


def _atomic_write(path: Path | str, data: bytes) -> None:
    # issue 18: through staging_store, so ``path`` may be a local path or an object-store URL.
    staging_store.write_bytes(str(path), data)


def _atomic_pickle(obj, path: Path) -> None:
    _atomic_write(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def write_json(obj, path: Path) -> None:
    """A step's small summary (the parse manifest load_history reads), sorted keys."""
    _atomic_write(path, json.dumps(obj, sort_keys=True).encode())


def write_parse_result(result: ParseResult, path: Path) -> None:
    payload = {"format": FORMAT, "source_file": result.source_file, "file_sha256": result.file_sha256}
    for name, row_type in _ROW_TYPES.items():
        # The column names travel with the rows: a stage written before a model change fails loudly.
        names = columns(row_type)
        payload[name] = (names, as_tuples(getattr(result, name), names))
    _atomic_pickle(payload, path)


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


def _payload(path: Path | str) -> dict:
    payload = pickle.loads(staging_store.read_bytes(str(path)))  # issue 18: local or object store
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a staged parse result of format {FORMAT}; rerun the day from its parse step")
    for name, row_type in _ROW_TYPES.items():
        names = payload[name][0]
        if tuple(names) != columns(row_type):
            raise ValueError(f"{path}: staged {name} columns {names} differ from the model's; rerun the day "
                             "from its parse step")
    return payload


def read_staged_rows(path: Path) -> StagedRows:
    payload = _payload(path)
    return StagedRows(
        source_file=payload["source_file"], file_sha256=payload["file_sha256"],
        envelopes=[Envelope(*row) for row in payload["envelopes"][1]], claims=payload["claims"][1],
        lines=payload["lines"][1], diagnoses=payload["diagnoses"][1],
        rejections=[Rejection(*row) for row in payload["rejections"][1]])


def read_parse_result(path: Path) -> ParseResult:
    payload = _payload(path)
    result = ParseResult(source_file=payload["source_file"], file_sha256=payload["file_sha256"])
    for name, row_type in _ROW_TYPES.items():
        setattr(result, name, [row_type(*row) for row in payload[name][1]])
    return result


def write_object(obj, path: Path) -> None:
    """A small staged result (findings of a rule batch) as one pickle."""
    _atomic_pickle(obj, path)


def read_object(path: Path | str):
    return pickle.loads(staging_store.read_bytes(str(path)))  # issue 18: local or object store
