"""Expectation suites on disk: load, check and version them.

A suite file is Great Expectations 1.x suite JSON (``name``, ``expectations``, ``meta``). The
suite's ``meta`` says which audit view it validates and which rows of it (``rows``), and which
columns identify a failing row (``index_columns``). Every expectation's ``meta`` is a rule:
``rule_id``, ``severity``, ``scope``, ``effective_from``, ``effective_to``, ``citation``,
``title``, ``message`` and ``fix``. GX refuses or drops expectation types it does not know, so
loading builds the GX suite and asserts nothing was lost.

Where the right fix depends on the claim (payer, claim type, date of service, code), the rule's
``meta.fix_variants`` lists ``{"when": {view column: value, ...}, "fix": text}``: the first
variant whose columns all equal the failing row's values gives that finding's fix, else ``fix``.
A suite's ``meta.only_where`` names boolean view columns every audited row must have true (all
suites: ``claim_radiation_oncology``, so no rule fires on another department's claim).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from claimaudit.errors import ReferenceDataError
from claimaudit.rules.fix_text import with_fix
from claimaudit.rules.reference import REFERENCE_SUBDIR, read_json

RULE_META_KEYS = ("rule_id", "severity", "scope", "effective_from", "effective_to", "citation", "title",
                  "message", "fix")
SEVERITIES = ("error", "warning")
SCOPES = ("line", "day", "course", "claim")
VIEWS = ("lines", "claims", "diagnoses")
ROW_SETS = ("received_today", "touched_day", "touched_course", "all")


class SuiteError(ReferenceDataError):
    """A suite file is malformed: names the file and the expectation."""


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    view: str
    rows: str
    index_columns: tuple[str, ...]
    report_once: bool  # day/course findings already reported on an earlier day are not repeated
    expectations: tuple[dict, ...]  # raw GX expectation configurations (type, kwargs, meta)
    only_where: tuple[str, ...] = ()  # boolean view columns an audited row must have true

    def windows(self) -> dict[tuple[date | None, date | None], list[dict]]:
        """Expectations grouped by their effective date range (applied to the rows' date of service)."""
        out: dict[tuple[date | None, date | None], list[dict]] = {}
        for exp in self.expectations:
            m = exp["meta"]
            key = (_iso(m["effective_from"]), _iso(m["effective_to"]))
            out.setdefault(key, []).append(exp)
        return out


def _iso(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def suite_paths(expectations_dir: Path) -> list[Path]:
    return sorted(p for p in Path(expectations_dir).glob("*.json"))


def _check_rule_meta(meta: dict, where: str) -> None:
    missing = [k for k in RULE_META_KEYS if k not in meta]
    if missing:
        raise SuiteError(f"{where}: meta lacks {', '.join(missing)}")
    if meta["severity"] not in SEVERITIES:
        raise SuiteError(f"{where}: severity {meta['severity']!r} is not one of {SEVERITIES}")
    if meta["scope"] not in SCOPES:
        raise SuiteError(f"{where}: scope {meta['scope']!r} is not one of {SCOPES}")
    for key in ("effective_from", "effective_to"):
        try:
            _iso(meta[key])
        except ValueError as exc:
            raise SuiteError(f"{where}: {key} {meta[key]!r} is not an ISO date") from exc
    for i, v in enumerate(meta.get("fix_variants") or ()):
        if (not isinstance(v, dict) or not isinstance(v.get("when"), dict) or not v["when"]
                or not isinstance(v.get("fix"), str) or not v["fix"]):
            raise SuiteError(f"{where}: fix_variants[{i}] must be {{'when': {{column: value}}, 'fix': text}}")


def fix_columns(meta: dict) -> list[str]:
    """View columns the rule's fix variants read."""
    return list(dict.fromkeys(c for v in meta.get("fix_variants") or () for c in v["when"]))


def choose_fix(meta: dict, row: dict) -> str:
    """The fix for one failing row: the first variant whose conditions all hold, else ``fix``."""
    for v in meta.get("fix_variants") or ():
        if all(_same(row.get(col), want) for col, want in v["when"].items()):
            return v["fix"]
    return meta["fix"]


def _same(value, want) -> bool:
    if isinstance(want, bool):
        return value is not None and bool(value) is want and value == value  # NaN is no match
    return value == want


def finding_message(meta: dict, row: dict, detail: str = "") -> str:
    """What a finding says: the rule's message (with the row's ``detail``, if any) and the fix
    for this claim."""
    what = f"{meta['message']} {detail}" if detail else meta["message"]
    return with_fix(what, choose_fix(meta, row))


def load_suite(path: Path, *, check_with_gx: bool = True) -> Suite:
    """One suite file. ``check_with_gx=False`` reads only the metadata checks (the digest's rule
    catalogue), sparing the task the 2-3 s import of Great Expectations; the rules always check."""
    doc = read_json(path, SuiteError)
    where = Path(path).name
    meta = doc.get("meta") or {}
    if meta.get("view") not in VIEWS:
        raise SuiteError(f"{where}: meta.view must be one of {VIEWS}")
    if meta.get("rows", "all") not in ROW_SETS:
        raise SuiteError(f"{where}: meta.rows must be one of {ROW_SETS}")
    expectations = tuple(doc.get("expectations") or ())
    for i, exp in enumerate(expectations):
        _check_rule_meta(exp.get("meta") or {}, f"{where}: expectation {i + 1} ({exp.get('type')})")
    suite = Suite(name=doc["name"], path=Path(path), view=meta["view"], rows=meta.get("rows", "all"),
                  index_columns=tuple(meta.get("index_columns") or ("claim_key",)),
                  report_once=bool(meta.get("report_once", False)), expectations=expectations,
                  only_where=tuple(meta.get("only_where") or ()))
    if check_with_gx:
        to_gx_suite(suite.name, list(expectations), where)  # fails loudly on unknown types or kwargs
    return suite


def load_suites(expectations_dir: Path, *, check_with_gx: bool = True) -> list[Suite]:
    suites = [load_suite(p, check_with_gx=check_with_gx) for p in suite_paths(expectations_dir)]
    if not suites:
        raise SuiteError(f"no expectation suites in {expectations_dir}")
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise SuiteError(f"suite names repeat: {sorted(names)}")
    return suites


def to_gx_suite(name: str, expectations: list[dict], where: str = ""):
    """A GX ExpectationSuite holding exactly ``expectations``; raises if GX dropped or refused any."""
    from great_expectations.core.expectation_suite import ExpectationSuite

    try:
        suite = ExpectationSuite(name=name, expectations=[dict(e) for e in expectations])
    except Exception as exc:  # GX raises several types for a bad configuration
        raise SuiteError(f"{where or name}: Great Expectations refused an expectation: {exc}") from exc
    if len(suite.expectations) != len(expectations):
        raise SuiteError(f"{where or name}: {len(expectations)} expectations written, "
                         f"{len(suite.expectations)} loaded by Great Expectations")
    return suite


def ruleset_version(expectations_dir: Path) -> str:
    """Hash of every suite and reference file (names and bytes): changes whenever a rule does."""
    root = Path(expectations_dir)
    files = suite_paths(root) + sorted((root / REFERENCE_SUBDIR).glob("*.json"))
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]
