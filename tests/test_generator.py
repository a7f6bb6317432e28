"""The sample generator: deterministic, realistic, and its manifest tells the truth about the files.

The files are checked by reading the X12 text directly (a small segment scanner below), by the
project's parser and by pyx12's validator, so a generator bug cannot hide behind a parser bug.
"""

from __future__ import annotations

import collections
import functools
import io
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from claimaudit.samples.calendar import is_business_day
from claimaudit.samples.generator import MAX_CLAIMS_PER_FILE, generate
from claimaudit.samples.npi import is_valid_npi, make_npi, npi_check_digit
from support.paths import RULE_CATALOGUE_MD

DEMO_START, DEMO_END = date(2025, 6, 2), date(2025, 6, 13)
ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = RULE_CATALOGUE_MD
# The catalogue's rule ids (shared/rules/77386-rules.md); test_rule_ids_match_the_catalogue keeps this in step.
RULE_IDS = {
    "R77386-DOS-BEFORE-2015", "R77386-DELETED-2026", "R77386-MOD-TC", "R77386-MOD-26", "R77386-UNITS-PER-LINE",
    "R77386-DX-NEOPLASM", "R77386-PROF-IN-FACILITY", "R77386-837I-REVCODE", "R77386-MCR-PFS-USE-GCODE",
    "R77387-MOD-26-REQUIRED", "R77386-SBRT-SAME-DAY", "R77386-SIMPLE-COMPLEX-SAME-DAY",
    "R77386-GUIDANCE-UNBUNDLED", "R77386-BID-76", "R77386-DUPLICATE", "R77386-PLAN-PRECEDES",
    "R77386-FX-OUTLIER", "R77386-SIM-IN-COURSE", "R77338-PER-PLAN", "DQ-CLAIM-CHARGE-SUM",
    "DQ-NPI-CHECKDIGIT", "DQ-DOS-VALID", "DQ-DX-FORMAT",
}
# Rules planted more than once, on purpose (see plants.py).
PLANTED_TWICE = {
    "DQ-DOS-VALID",  # an unparseable date, and the 2026 date that is also R77386-DELETED-2026
    "R77386-SIM-IN-COURSE",  # a hospital 77386 course, and a Medicare freestanding G6015 course
    "R77387-MOD-26-REQUIRED",  # one claim, and across Part A / Part B payer ids (one patient)
}


@functools.lru_cache(maxsize=None)
def _radonc_code(code: str) -> bool:
    import pandas as pd

    from claimaudit.rules.reference import load_reference, membership

    cl = load_reference(ROOT / "expectations").code_lists["radiation_oncology"]
    return bool(membership(pd.Series([code], dtype=object), pd.Series([pd.NaT]), cl)[0])


def is_radonc(claim) -> bool:
    """Does the claim carry a code of the rules' radiation-oncology list (expectations/reference)?"""
    return any(_radonc_code(x.code) for x in claim.lines)


# --- a minimal 837 reader, independent of the project's parser -------------------------------------------

@dataclass
class RawLine:
    number: int
    code: str
    modifiers: tuple[str, ...]
    charge: float
    units: float
    revenue: str = ""
    place: str = ""
    pointers: str = ""
    dos: str = ""


@dataclass
class RawClaim:
    claim_id: str
    total: float
    clm05: str
    kind: str
    payer_class: str
    billing_npi: str
    other_npis: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    ref_f8: str = ""
    lines: list[RawLine] = field(default_factory=list)


def scan(data: bytes) -> tuple[str, list[RawClaim]]:
    """ISA09 and the claims of one well-formed file written with ``*`` ``:`` ``~``."""
    claims: list[RawClaim] = []
    billing_npi = payer_class = isa09 = kind = ""
    for raw in data.decode("latin-1").split("~"):
        el = raw.strip().split("*")
        tag = el[0]
        if tag == "ISA":
            isa09 = el[9]
        elif tag == "ST":
            kind = "I" if el[3].startswith("005010X223") else "P"
        elif tag == "NM1" and el[1] == "85":
            billing_npi = el[9]
        elif tag == "SBR":
            payer_class = el[9]
        elif tag == "CLM":
            claims.append(RawClaim(el[1], float(el[2]), el[5], kind, payer_class, billing_npi))
        elif tag == "REF" and el[1] == "F8":
            claims[-1].ref_f8 = el[2]
        elif tag == "HI":
            claims[-1].diagnoses += [c.split(":")[1] for c in el[1:]]
        elif tag == "NM1" and el[1] in ("82", "71"):
            claims[-1].other_npis.append(el[9])
        elif tag == "LX":
            claims[-1].lines.append(RawLine(int(el[1]), "", (), 0.0, 0.0))
        elif tag in ("SV1", "SV2"):
            line = claims[-1].lines[-1]
            proc = (el[1] if tag == "SV1" else el[2]).split(":")
            line.code, line.modifiers = proc[1], tuple(proc[2:])
            if tag == "SV1":
                line.charge, line.units = float(el[2]), float(el[4])
                line.place = el[5] if len(el) > 5 else ""
                line.pointers = el[7] if len(el) > 7 else ""
            else:
                line.revenue, line.charge, line.units = el[1], float(el[3]), float(el[5])
        elif tag == "DTP" and el[1] == "472":
            claims[-1].lines[-1].dos = el[3]
    return isa09, claims


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("demo") / "inbox"
    manifest = generate(inbox, DEMO_START, DEMO_END)
    return inbox, manifest


@pytest.fixture(scope="module")
def scanned(demo):
    """(day, file entry, ISA09, claims) of every readable file."""
    return scan_demo(*demo)


def scan_demo(inbox, manifest):
    out = []
    for day, info in manifest.days.items():
        for f in info["files"]:
            if f.status != "malformed":
                isa09, claims = scan((inbox / f.path).read_bytes())
                out.append((day, f, isa09, claims))
    return out


def _claims(scanned, *, skip_duplicates: bool = True):
    for day, f, _, claims in scanned:
        if skip_duplicates and f.status == "duplicate":
            continue
        for c in claims:
            yield day, f, c


# --- determinism ------------------------------------------------------------------------------------------

def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_files(demo, tmp_path):
    inbox, _ = demo
    generate(tmp_path / "again", DEMO_START, DEMO_END)
    first, second = _tree(inbox), _tree(tmp_path / "again")
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_another_seed_gives_other_patients(demo, tmp_path):
    inbox, manifest = demo
    other = generate(tmp_path / "seed8", DEMO_START, DEMO_END, seed=8)
    name = manifest.days["2025-06-03"]["files"][0].path
    assert (inbox / name).read_bytes() != (tmp_path / "seed8" / name).read_bytes()
    assert {p["rule_id"] for p in other.planted} == {p["rule_id"] for p in manifest.planted}


def test_manifest_json_is_written_and_matches(demo):
    inbox, manifest = demo
    assert json.loads((inbox / "manifest.json").read_text()) == json.loads(manifest.to_json())


# --- planted problems -------------------------------------------------------------------------------------

def test_rule_ids_match_the_catalogue():
    if not CATALOGUE.exists():
        pytest.skip(f"shared catalogue not present at {CATALOGUE}")
    import re

    ids = set(re.findall(r"^\| (R77\d{3}-[A-Z0-9-]+|DQ-[A-Z-]+) \|", CATALOGUE.read_text(), re.M))
    assert ids == RULE_IDS


def test_every_rule_id_is_planted_in_the_demo_window(demo):
    _, manifest = demo
    counts = collections.Counter(p["rule_id"] for p in manifest.planted)
    assert set(counts) == RULE_IDS
    assert {r for r, n in counts.items() if n > 1} == PLANTED_TWICE
    assert all(n == 2 for r, n in counts.items() if r in PLANTED_TWICE)
    assert manifest.skipped_stories == []
    for p in manifest.planted + manifest.resolved:
        assert DEMO_START.isoformat() <= p["audit_date"] <= DEMO_END.isoformat(), p


def test_every_suite_rule_has_a_plant(demo):
    """The rules shipped under expectations/ are the ones the demo exercises."""
    from claimaudit.rules.catalogue import rule_catalogue

    _, manifest = demo
    # NCCI-* rules need an imported CMS edit set, which the demo extracts do not plant (issue 13).
    shipped = {r for r in rule_catalogue(ROOT / "expectations") if not r.startswith("NCCI-")}
    assert shipped == {p["rule_id"] for p in manifest.planted}


def test_planted_findings_point_at_real_lines_of_that_days_files(demo, scanned):
    _, manifest = demo
    by_id = {(c.claim_id, day): c for day, _, c in _claims(scanned)}
    for p in manifest.planted + manifest.resolved:
        claim = by_id[(p["claim_id"], p["audit_date"])]
        if p["line_number"] is None:
            assert p["rule_id"].startswith("DQ-") and p["rule_id"] != "DQ-DOS-VALID", p
            continue
        line = claim.lines[p["line_number"] - 1]
        assert line.number == p["line_number"] and line.code == p["procedure_code"], p


def test_resolved_finding_is_fixed_by_a_replacement_naming_the_original(demo, scanned):
    _, manifest = demo
    by_id = {c.claim_id: (day, c) for day, _, c in _claims(scanned)}
    assert len(manifest.resolved) == 1
    r = manifest.resolved[0]
    day, fix = by_id[r["resolved_by"]]
    original = by_id[r["claim_id"]][1]
    assert day == r["resolved_on"] > r["audit_date"]
    assert fix.clm05.endswith(":7") and fix.ref_f8 == r["claim_id"]
    assert original.lines[0].units == 2 and fix.lines[0].units == 1


def test_clean_cases_are_present(demo, scanned):
    _, manifest = demo
    by_id = {c.claim_id: c for _, _, c in _claims(scanned)}
    whats = " | ".join(c["what"] for c in manifest.clean_cases)
    for needle in ("modifier 76", "void", "replacement"):
        assert needle in whats
    void = next(c for c in manifest.clean_cases if "void" in c["what"])
    original, voided, rebill = (by_id[c["claim_id"]] for c in void["claims"])
    assert voided.clm05.endswith(":8") and voided.ref_f8 == original.claim_id
    assert rebill.clm05.endswith(":1") and rebill.lines[0].dos == original.lines[0].dos
    bid = next(c for c in manifest.clean_cases if "modifier 76" in c["what"])
    lines = by_id[bid["claims"][0]["claim_id"]].lines
    assert [(x.code, x.modifiers) for x in lines] == [("77386", ()), ("77386", ("76",))]


def test_z510_is_first_and_a_cancer_follows_on_every_delivery_claim(scanned):
    for _, _, c in _claims(scanned):
        if any(x.code in ("77385", "77386") for x in c.lines):
            assert c.diagnoses[0] in ("Z510", "Z51.0") and c.diagnoses[1].startswith("C"), c.claim_id


def test_one_duplicate_delivery_and_one_truncated_file(demo):
    inbox, manifest = demo
    files = manifest.all_files()
    dup = [f for f in files if f.status == "duplicate"]
    bad = [f for f in files if f.status == "malformed"]
    assert len(dup) == 1 and len(bad) == 1
    first = next(f for f in files if f.status == "ok" and f.sha256 == dup[0].sha256)
    assert first.path < dup[0].path and (inbox / first.path).read_bytes() == (inbox / dup[0].path).read_bytes()
    data = (inbox / bad[0].path).read_bytes()
    segments = [s.strip() for s in data.split(b"~")]
    assert not any(s.startswith((b"SE*", b"GE*", b"IEA*")) for s in segments)
    assert segments[-1].startswith(b"SV1*") and not data.endswith(b"~\n")  # cut mid-segment


# --- realism and data integrity ---------------------------------------------------------------------------

def test_files_arrive_on_business_days_with_dates_of_service_on_or_before(demo, scanned):
    _, manifest = demo
    assert all(is_business_day(date.fromisoformat(d)) for d in manifest.days)
    assert "2025-06-07" not in manifest.days and len(manifest.days) == 10
    late = []
    for day, f, isa09, claims in scanned:
        if f.status == "duplicate":  # the bytes of an earlier day, sent again
            assert isa09 < date.fromisoformat(day).strftime("%y%m%d")
            continue
        assert isa09 == date.fromisoformat(day).strftime("%y%m%d"), f.path
        for c in claims:
            for x in c.lines:
                if len(x.dos) != 8 or x.dos > day.replace("-", ""):
                    late.append((c.claim_id, x.number, x.dos))
    planted = {(p["claim_id"], p["line_number"]) for p in manifest.planted if p["rule_id"] == "DQ-DOS-VALID"}
    assert {(c, n) for c, n, _ in late} == planted


def test_npis_pass_the_check_digit_except_the_planted_one(demo, scanned):
    _, manifest = demo
    bad = {(c.claim_id, npi) for _, _, c in _claims(scanned) for npi in [c.billing_npi, *c.other_npis]
           if not is_valid_npi(npi)}
    planted = [p for p in manifest.planted if p["rule_id"] == "DQ-NPI-CHECKDIGIT"]
    assert {c for c, _ in bad} == {p["claim_id"] for p in planted}
    assert all(len(npi) == 10 for _, npi in bad)


def test_claim_totals_equal_the_sum_of_line_charges_except_the_planted_one(demo, scanned):
    _, manifest = demo
    off = {c.claim_id for _, _, c in _claims(scanned) if abs(c.total - sum(x.charge for x in c.lines)) > 0.005}
    assert off == {p["claim_id"] for p in manifest.planted if p["rule_id"] == "DQ-CLAIM-CHARGE-SUM"}


def test_claim_types_places_and_revenue_codes(demo, scanned):
    planted = {(p["claim_id"], p["line_number"]) for p in demo[1].planted}
    seen = collections.Counter()
    for _, f, c in _claims(scanned):
        if not is_radonc(c):
            continue  # other departments' claims: see test_mixed_extracts_*
        if c.kind == "I":
            assert c.clm05 in ("13:A:1", "13:A:7", "13:A:8")
            for x in c.lines:
                if x.code in ("77385", "77386"):
                    seen["837I delivery"] += 1
                    seen["rev " + x.revenue] += 1
        elif f.sender == "LAKESIDERADONC":
            assert c.clm05.split(":")[0] in ("22", "21")
            for x in c.lines:
                # professional components only: split codes carry 26
                assert ("26" in x.modifiers or x.code in ("77263", "77427", "77435", "77386")
                        or (c.claim_id, x.number) in planted), (c.claim_id, x)
        else:
            assert c.clm05.split(":")[0] == "11"
            if c.payer_class == "MB":
                codes = {x.code for x in c.lines}
                seen["freestanding Medicare G-code"] += bool(codes & {"G6015", "G6016"})
                seen["freestanding Medicare 77386"] += bool(codes & {"77385", "77386"})
    assert seen["837I delivery"] > 10 and seen["rev 0320"] == 1 and seen["rev 0333"] == seen["837I delivery"] - 1
    assert seen["freestanding Medicare G-code"] > 3 and seen["freestanding Medicare 77386"] == 1


def test_payer_mix(scanned):
    classes = {c.payer_class for _, _, c in _claims(scanned)}
    assert {"MB", "MA", "16", "MC"} <= classes and classes & {"CI", "BL"}


# --- mixed extracts: every department's claims, radiation oncology a minority ---------------------------------

def test_mixed_extracts_radiation_oncology_is_a_minority_of_every_file(demo, scanned):
    _, manifest = demo
    assert manifest.radonc_share == 0.3
    kinds = collections.Counter()
    for _, f, _, claims in scanned:
        radonc = [c for c in claims if is_radonc(c)]
        assert len(radonc) == f.radonc_claims and len(claims) == f.claims, f.path
        assert 0 < len(radonc) <= 0.3 * len(claims), (f.path, len(radonc), len(claims))
        for c in claims:
            if not is_radonc(c):
                kinds.update(x.code for x in c.lines)
                kinds["dotted dx"] += any("." in d for d in c.diagnoses)
    # visits, labs, imaging and chemotherapy, some with what a rule would flag on a radiation claim
    assert {"99213", "80053", "71046", "96413", "J9045"} <= set(kinds) and kinds["dotted dx"] > 0


def test_radonc_share_setting_argument_and_environment(tmp_path, monkeypatch):
    only = generate(tmp_path / "only", date(2025, 6, 2), date(2025, 6, 3), plant=False, radonc_share=1)
    assert all(f.radonc_claims == f.claims for f in only.all_files())
    monkeypatch.setenv("AUDIT_SAMPLE_RADONC_SHARE", "0.5")
    half = generate(tmp_path / "half", date(2025, 6, 2), date(2025, 6, 3), plant=False)
    assert half.radonc_share == 0.5
    assert all(0 < f.radonc_claims <= 0.5 * f.claims for f in half.all_files())
    assert any(f.radonc_claims > 0.3 * f.claims for f in half.all_files())
    with pytest.raises(ValueError):
        generate(tmp_path / "bad", date(2025, 6, 2), date(2025, 6, 3), radonc_share=0)


# --- the files are real 837s -------------------------------------------------------------------------------

def test_every_file_parses_with_the_manifest_counts(demo):
    from claimaudit.x12.parser import parse_bytes

    inbox, manifest = demo
    for f in manifest.all_files():
        result = parse_bytes((inbox / f.path).read_bytes(), f.path)
        assert (len(result.claims), len(result.lines)) == (f.claims, f.lines), f.path
        if f.status == "malformed":
            assert result.rejections, f.path
        else:
            assert result.rejections == [], (f.path, [r.message() for r in result.rejections])
            assert {c.transaction_type for c in result.claims} == {f.kind[-1]}


def test_pyx12_accepts_sampled_files_and_rejects_the_unparseable_date(demo, scanned):
    """pyx12 validates against the 5010 implementation guides; the only planted problem it can
    see is the 7-digit DTP03 (the others are billing errors in well-formed X12)."""
    import logging

    import pyx12.params
    import pyx12.x12n_document

    inbox, manifest = demo
    unparseable = {c.claim_id for _, _, c in _claims(scanned) for x in c.lines if len(x.dos) != 8}
    expected_bad = {f.path for _, f, c in _claims(scanned, skip_duplicates=False) if c.claim_id in unparseable}
    rejected = set()
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    # pyx12 needs ~0.5 s a file: two days of every sender (planning days and delivery days, a
    # late-charge 837I, replacement and void claims) and the bad file keep the test fast.
    sample = [f for f in manifest.all_files() if f.status == "ok"
              and (f.path[:10] in ("2025-06-03", "2025-06-10") or f.path in expected_bad)]
    assert len(sample) == 8
    for f in sample:
        ack = io.StringIO()  # the 999 acknowledgement pyx12 writes
        if not pyx12.x12n_document.x12n_document(pyx12.params.params(), str(inbox / f.path), ack, None):
            rejected.add(f.path)
            assert "IK5*R" in ack.getvalue() and "DTP" in ack.getvalue(), f.path
    assert len(expected_bad) == 1 and rejected == expected_bad


# --- volume and windows ------------------------------------------------------------------------------------

def test_patients_per_day_raises_volume_and_splits_files(tmp_path, monkeypatch):
    import claimaudit.samples.generator as generator

    small = generate(tmp_path / "small", date(2025, 6, 2), date(2025, 6, 6), plant=False, radonc_share=1)
    monkeypatch.setattr(generator, "MAX_CLAIMS_PER_FILE", 100)
    big = generator.generate(tmp_path / "big", date(2025, 6, 2), date(2025, 6, 6), patients_per_day=400, plant=False,
                             radonc_share=1)
    assert big.totals["lines"] > 10 * small.totals["lines"]
    for day in big.days.values():  # about two lines per patient treated
        assert 400 < day["lines"] < 1600
        assert len(day["files"]) > 3 and all(f.claims <= 100 for f in day["files"])
    assert MAX_CLAIMS_PER_FILE >= 1000  # production files are not split that small


def test_without_plants_the_background_is_clean(tmp_path):
    manifest = generate(tmp_path / "clean", DEMO_START, DEMO_END, patients_per_day=60, plant=False)
    assert manifest.planted == manifest.resolved == manifest.clean_cases == []
    assert manifest.totals["malformed_files"] == manifest.totals["duplicate_files"] == 0
    for info in manifest.days.values():
        for f in info["files"]:
            _, claims = scan((tmp_path / "clean" / f.path).read_bytes())
            for c in claims:
                assert all(is_valid_npi(n) for n in [c.billing_npi, *c.other_npis])
                assert abs(c.total - sum(x.charge for x in c.lines)) < 0.005
                assert all(x.dos <= f.path[:10].replace("-", "") for x in c.lines)
                for x in c.lines:
                    assert not (x.code in ("77385", "77386") and ({"26", "TC"} & set(x.modifiers) or x.units != 1))
                    assert not (x.code in ("77385", "77386") and c.kind == "P" and c.payer_class == "MB")


def test_a_window_too_short_for_a_story_leaves_it_out_and_says_so(tmp_path):
    manifest = generate(tmp_path / "short", date(2025, 6, 2), date(2025, 6, 9))
    assert len(manifest.skipped_stories) >= 10 and "interrupted transfer" not in manifest.skipped_stories
    assert manifest.totals["malformed_files"] == 1 and manifest.totals["duplicate_files"] == 0
    for p in manifest.planted:
        assert p["story"] not in manifest.skipped_stories and p["audit_date"] <= "2025-06-09"
    assert generate(tmp_path / "weekend", date(2025, 6, 7), date(2025, 6, 8)).totals["files"] == 0


# --- NPI check digit ----------------------------------------------------------------------------------------

def test_npi_check_digit():
    assert npi_check_digit("123456789") == "3" and is_valid_npi("1234567893")
    assert not is_valid_npi("1234567890") and not is_valid_npi("123456789")
    assert is_valid_npi(make_npi("187654321")) and not is_valid_npi(make_npi("987654321"))  # NPIs start 1 or 2
    with pytest.raises(ValueError):
        npi_check_digit("12345")


# --- the manifest is the truth the audit is held to ---------------------------------------------------------

def test_the_audit_of_the_demo_window_finds_exactly_the_planted_findings(demo, tmp_path):
    """Every file of the window through the whole pipeline (parse, history, suites, findings),
    day by day: the findings are exactly the manifest's, the resolved one is marked resolved, the
    duplicate file is audited once and the truncated one rejected. ~30 s."""
    import sqlalchemy as sa

    from claimaudit import pipeline
    from claimaudit.settings import Settings

    inbox, manifest = demo
    settings = Settings.from_env({"AUDIT_INBOX": str(inbox), "AUDIT_VAR_DIR": str(tmp_path / "var"),
                                  "AUDIT_DB_URL": f"sqlite:///{tmp_path / 'audit.db'}"})
    for day in manifest.days:  # business days only: no files on the others
        pipeline.audit_day(day, settings)
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as c:
        found = c.execute(sa.text("SELECT audit_date, rule_id, claim_id, line_number, status FROM audit_finding")).all()
        # claims_read/lines_read: every claim of the files; claims/lines: the radiation-oncology ones kept.
        runs = {str(r[0]): r[1:] for r in c.execute(sa.text(
            "SELECT audit_date, claims_read, lines_read, rejections, claims, lines FROM audit_run"))}
    engine.dispose()
    got = {(str(d), rule, claim, line): status for d, rule, claim, line, status in found}
    # No rule fires on another department's claim (a mixed extract: radiation oncology is 30% of each file).
    claims = {c.claim_id: c for _, _, c in _claims(scan_demo(inbox, manifest))}
    others = [c for c in claims.values() if not is_radonc(c)]
    assert len(others) > 2 * (len(claims) - len(others))
    assert [k for k in got if not is_radonc(claims[k[2]])] == []
    expected = {(p["audit_date"], p["rule_id"], p["claim_id"], p["line_number"]): "open" for p in manifest.planted}
    expected |= {(p["audit_date"], p["rule_id"], p["claim_id"], p["line_number"]): "resolved" for p in manifest.resolved}
    assert got == expected
    for day, info in manifest.days.items():
        rejected = sum(f.status == "malformed" for f in info["files"])
        assert runs[day][:3] == (info["claims"], info["lines"], rejected), day
        assert 0 < runs[day][3] < runs[day][0] and 0 < runs[day][4] < runs[day][1], day  # others counted, not kept
