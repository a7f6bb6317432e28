"""Reference data of the rules: code lists, fraction ceilings and thresholds with effective dates.

The files live in ``expectations/reference/`` so a compliance analyst edits them, not Python.
Every entry carries ``effective_from`` / ``effective_to`` (ISO dates, null = open). Each value is
evaluated at a date of service, never at the date the audit runs. Evaluation is vectorised:
one pass per reference entry (a few dozen) over the whole frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from claimaudit.errors import ReferenceDataError

REFERENCE_SUBDIR = "reference"
FIELDS = ("procedure_code", "modifiers", "place_of_service", "revenue_code", "payer_class", "diagnosis",
          "qualifier")  # qualifier: the HI code-list qualifier of a diagnosis (diagnosis view)
MATCHES = ("code", "prefix", "range", "modifier")


@dataclass(frozen=True)
class Entry:
    value: str
    effective_from: date | None
    effective_to: date | None


@dataclass(frozen=True)
class CodeList:
    name: str
    field: str
    match: str
    entries: tuple[Entry, ...]
    description: str = ""


@dataclass(frozen=True)
class Ceiling:
    site: str
    match: str  # prefix | range | any
    values: tuple[str, ...]
    ceiling: int
    effective_from: date | None
    effective_to: date | None


@dataclass(frozen=True)
class Threshold:
    name: str
    entries: tuple[tuple[int, date | None, date | None], ...]
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reference:
    code_lists: dict[str, CodeList]
    ceilings: tuple[Ceiling, ...]
    thresholds: dict[str, Threshold]

    def threshold(self, name: str) -> Threshold:
        if name not in self.thresholds:
            raise ReferenceDataError(f"reference threshold {name!r} is missing")
        return self.thresholds[name]


def _date(text, where: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ReferenceDataError(f"{where}: bad date {text!r}") from exc


def _dates(raw: dict, where: str) -> tuple[date | None, date | None]:
    for key in ("effective_from", "effective_to"):
        if key not in raw:
            raise ReferenceDataError(f"{where}: {key} missing (write null for an open end)")
    start, end = _date(raw["effective_from"], where), _date(raw["effective_to"], where)
    if start and end and end < start:
        raise ReferenceDataError(f"{where}: effective_to before effective_from")
    return start, end


def read_json(path: Path, error: type[ReferenceDataError] = ReferenceDataError) -> dict:
    """A rule data file as a JSON object, or ``error`` naming the file (not a bare decoder traceback)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:  # JSON syntax, or bytes that are not UTF-8
        raise error(f"{Path(path).name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise error(f"{Path(path).name}: expected a JSON object, found {type(doc).__name__}")
    return doc


def load_reference(expectations_dir: Path) -> Reference:
    """Read every ``*.json`` under ``expectations/reference``; unknown kinds are an error."""
    folder = Path(expectations_dir) / REFERENCE_SUBDIR
    lists: dict[str, CodeList] = {}
    ceilings: list[Ceiling] = []
    thresholds: dict[str, Threshold] = {}
    for path in sorted(folder.glob("*.json")):
        doc = read_json(path)
        kind = doc.get("kind")
        if kind == "code_lists":
            for name, raw in doc["lists"].items():
                where = f"{path.name}: list {name}"
                if name in lists:
                    raise ReferenceDataError(f"{where}: defined twice")
                if raw.get("field") not in FIELDS or raw.get("match") not in MATCHES:
                    raise ReferenceDataError(f"{where}: field must be one of {FIELDS}, match one of {MATCHES}")
                entries = tuple(Entry(str(e["value"]), *_dates(e, f"{where} {e.get('value')}"))
                                for e in raw["entries"])
                lists[name] = CodeList(name, raw["field"], raw["match"], entries, raw.get("description", ""))
        elif kind == "fraction_ceilings":
            for i, raw in enumerate(doc["entries"]):
                where = f"{path.name}: entry {i + 1}"
                if raw.get("match") not in ("prefix", "range", "any"):
                    raise ReferenceDataError(f"{where}: match must be prefix, range or any")
                ceilings.append(Ceiling(raw["site"], raw["match"], tuple(raw["values"]), int(raw["ceiling"]),
                                        *_dates(raw, where)))
        elif kind == "threshold":
            name = doc["name"]
            entries = tuple((int(e["value"]), *_dates(e, f"{path.name}: {name}")) for e in doc["entries"])
            extra = {k: v for k, v in doc.items() if k not in ("kind", "name", "entries", "description")}
            thresholds[name] = Threshold(name, entries, extra)
        else:
            raise ReferenceDataError(f"{path.name}: unknown kind {kind!r}")
    if not ceilings or ceilings[-1].match != "any":
        raise ReferenceDataError("fraction_ceilings: the last entry must be the default (match any)")
    return Reference(lists, tuple(ceilings), thresholds)


def in_effect(dos: pd.Series, start: date | None, end: date | None) -> np.ndarray:
    """Mask of dates of service inside [start, end]; a missing date is in no bounded range."""
    mask = np.ones(len(dos), dtype=bool)
    if start is not None:
        mask &= (dos >= pd.Timestamp(start)).to_numpy(dtype=bool, na_value=False)
    if end is not None:
        mask &= (dos <= pd.Timestamp(end)).to_numpy(dtype=bool, na_value=False)
    return mask


def _value_mask(values: pd.Series, match: str, value: str) -> np.ndarray:
    if match == "code":
        return (values == value).to_numpy(dtype=bool, na_value=False)
    if match == "prefix":
        return values.str.startswith(value).to_numpy(dtype=bool, na_value=False)
    if match == "modifier":
        # modifiers are comma-joined ("26,76"): the value must be one whole item.
        padded = "," + values + ","
        return padded.str.contains(f",{value},", regex=False).to_numpy(dtype=bool, na_value=False)
    if match == "range":
        lo, hi = value.split("-")
        head = values.str.slice(0, len(lo))
        return ((head >= lo) & (head <= hi)).to_numpy(dtype=bool, na_value=False)
    raise ReferenceDataError(f"unknown match {match!r}")


def membership(values: pd.Series, dos: pd.Series, code_list: CodeList) -> np.ndarray:
    """For each row: is ``values`` in ``code_list`` at that row's date of service?"""
    values = values.fillna("").astype(str)
    out = np.zeros(len(values), dtype=bool)
    for e in code_list.entries:
        out |= _value_mask(values, code_list.match, e.value) & in_effect(dos, e.effective_from, e.effective_to)
    return out


def threshold_at(threshold: Threshold, dos: pd.Series) -> pd.Series:
    """The threshold value in effect at each date (NaN where none is)."""
    out = pd.Series(np.nan, index=dos.index)
    for value, start, end in threshold.entries:
        out[in_effect(dos, start, end) & out.isna().to_numpy()] = value
    return out


def ceiling_at(codes: pd.Series, dos: pd.Series, ceilings: tuple[Ceiling, ...]) -> pd.Series:
    """Fraction ceiling per row from its neoplasm code at its date; first matching entry wins."""
    codes = codes.fillna("").astype(str)
    out = pd.Series(np.nan, index=codes.index)
    for c in ceilings:
        if c.match == "any":
            hit = np.ones(len(codes), dtype=bool)
        else:
            hit = np.zeros(len(codes), dtype=bool)
            for v in c.values:
                hit |= _value_mask(codes, c.match, v)
        hit &= in_effect(dos, c.effective_from, c.effective_to) & out.isna().to_numpy()
        out[hit] = c.ceiling
    return out
