"""Staged parse results (parse_file -> load_history) come back exactly as parsed."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest

from claimaudit.errors import PipelineStateError
from claimaudit.model import Finding
from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from claimaudit.staging import read_parse_result, write_parse_result
from claimaudit.x12.parser import parse_bytes

PUBLIC = Path(__file__).parent / "fixtures" / "public"


def _parsed():
    """A generated 837I and 837P (dates, floats, empty fields) and a public file with rejections."""
    patient = Patient("STG0001", "STAGE", "ANN", date(1950, 1, 2))
    inst = render_837(Interchange("I", [Claim("S-I", patient, [Line("77386", date(2025, 6, 2), charge=900.0)],
                                              diagnoses=("Z510", "C61"))], control=11))
    prof = render_837(Interchange("P", [Claim("S-P", patient, [Line("77387", date(2025, 6, 2), modifiers=("26",),
                                                                    charge=150.0, dx_pointers=(1, 2))],
                                              diagnoses=("Z510", "C61"), facility_code="11")], control=12))
    bad = (PUBLIC / "imsweb-x12-parser__x12_segments_out_of_order.txt").read_bytes()
    return [parse_bytes(inst, "i.x12"), parse_bytes(prof, "p.x12"), parse_bytes(bad, "bad.x12")]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_round_trip_is_exact(tmp_path, index):
    result = _parsed()[index]
    assert result.claims or result.rejections
    path = tmp_path / "files" / "x.stage"
    write_parse_result(result, path)
    assert read_parse_result(path) == result
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary name


def test_a_stage_of_another_format_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps(_parsed()[0]))  # an earlier format: the dataclasses themselves
    with pytest.raises(PipelineStateError, match="rerun the day from its parse step"):
        read_parse_result(path)


class _Planted:
    """A pickle that runs code when loaded: what someone with write access to the shared staging
    volume could plant."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("reader", ["read_staged_rows", "read_parse_result", "read_object"])
def test_a_planted_pickle_is_never_run(tmp_path, reader):
    """Issue 16 item 4: staged files are data; a planted pickle is refused before anything runs."""
    from claimaudit import staging

    marker = tmp_path / "code-ran"
    path = tmp_path / "files" / "x.stage"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"format": "parse-result/2", "evil": _Planted(marker)}))
    with pytest.raises(PipelineStateError, match="rerun the day"):
        getattr(staging, reader)(path)
    assert not marker.exists(), "the staged file ran code"


def test_the_version_is_checked_before_the_rows_are_read(tmp_path):
    from claimaudit import staging

    path = tmp_path / "x.stage"
    write_parse_result(_parsed()[0], path)
    header, rest = path.read_bytes().split(b"\n", 1)
    assert f'"version":{staging.VERSION}'.encode() in header
    path.write_bytes(header.replace(f'"version":{staging.VERSION}'.encode(), b'"version":99') + b"\n"
                     + b"not json at all\n")
    with pytest.raises(PipelineStateError, match=f"version {staging.VERSION}"):
        staging.read_staged_rows(path)


def test_findings_round_trip(tmp_path):
    from claimaudit.staging import read_object, write_object

    findings = [Finding("R1", "error", "k", "C\u00e9", 2, date(2025, 6, 2), "77386", "26,76", "m\u00e9 Fix: x", "f.x12",
                        "000000001", "1234567893", "MB"),
                Finding("NCCI-PTP", "warning", "k", "C2", None, None, "", "", "", "", "", "", "",
                        ncci_edit_set="PTP practitioner 2025-Q2 (v312r0)")]
    write_object(findings, tmp_path / "f.stage")
    back = read_object(tmp_path / "f.stage")
    assert back == findings and all(type(f) is Finding for f in back)
    assert isinstance(back[0].date_of_service, date) and isinstance(back[0].line_number, int)


def test_staged_findings_of_another_shape_are_refused(tmp_path):
    """A findings stage whose columns are not the model's (written before a model change) is not guessed at."""
    from claimaudit import staging

    path = tmp_path / "f.stage"
    staging.write_object([], path)
    header, _ = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header + b'\n["findings",["rule_id","claim_key"],[]]\n')
    with pytest.raises(PipelineStateError, match="columns .* differ from the model's; rerun the day"):
        staging.read_object(path)


def test_the_loader_stores_the_same_rows_from_staged_tuples_as_from_objects(tmp_path):
    import sqlalchemy as sa

    from claimaudit.staging import read_staged_rows
    from claimaudit.store import schema as t
    from claimaudit.store.db import engine_for, ensure_schema
    from claimaudit.store.history import load_results

    results = _parsed()
    staged = []
    for i, result in enumerate(results):
        write_parse_result(result, tmp_path / f"{i}.stage")
        staged.append(read_staged_rows(tmp_path / f"{i}.stage"))
    assert isinstance(staged[0].lines[0], tuple)
    tables = {}
    for name, batch in (("objects", results), ("tuples", staged)):
        engine = engine_for(f"sqlite:///{tmp_path / name}.db")
        ensure_schema(engine)
        counts = load_results(engine, batch, date(2025, 6, 3))
        with engine.connect() as conn:
            tables[name] = {tbl.name: sorted(conn.execute(sa.select(*tbl.c)).all(), key=repr)
                            for tbl in (t.claim, t.service_line, t.diagnosis, t.rejection)}
        tables[name]["counts"] = counts
        engine.dispose()
    assert tables["objects"] == tables["tuples"]
    assert tables["tuples"]["service_line"] and tables["tuples"]["rejection"]
