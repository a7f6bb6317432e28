"""Issue 17: a problem the user can fix (``ClaimAuditError``) leaves the command line as one line on
stderr and exit status 2, never a traceback; a bug keeps its traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from claimaudit import cli
from claimaudit.errors import (ClaimAuditError, ConfigurationError, PipelineStateError, ReferenceDataError,
                               RuleEvaluationError)
from claimaudit.ncci.layouts import LayoutError
from claimaudit.rules.suites import SuiteError
from claimaudit.settings import EXPECTATIONS_DIR


def _claimaudit(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_") or k == "AUDIT_PATIENT_KEY_SECRET"}
    run_env |= {"AUDIT_VAR_DIR": str(tmp_path / "var"), "AUDIT_DB_URL": f"sqlite:///{tmp_path / 'report.db'}", **env}
    return subprocess.run([sys.executable, "-m", "claimaudit.cli", *args], env=run_env, capture_output=True,
                          text=True, timeout=300)


def _one_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("claimaudit: "), out.stderr
    return lines[0]


@pytest.mark.parametrize(("name", "value", "says"), [
    ("AUDIT_EMAIL_DETAIL", "everything", "AUDIT_EMAIL_DETAIL='everything': expected one of worklist, summary"),
    ("AUDIT_DELIVERY_DAYS", "mon-funday", "AUDIT_DELIVERY_DAYS: cannot read 'mon-funday'"),
    ("AUDIT_RULE_BATCH_LINES", "lots", "a setting cannot be read (invalid literal for int() with base 10: 'lots')"),
    ("AUDIT_HOLIDAYS", "2025-13-01", "a setting cannot be read"),
])
def test_a_bad_setting_is_one_line_and_exit_status_2(tmp_path, name, value, says):
    line = _one_line(_claimaudit(tmp_path, "summary", "--from", "2025-06-02", "--to", "2025-06-02", **{name: value}))
    assert says in line


@pytest.mark.parametrize(("file", "text", "says"), [
    ("reference/course_gap_days.json", '{"kind": "threshold", "name": ', "course_gap_days.json: not valid JSON"),
    ("reference/lookback_days.json",
     '{"kind": "threshold", "name": "lookback_days", "entries": [{"value": 1, "effective_from": "2025-02-30", '
     '"effective_to": null}]}', "lookback_days.json: lookback_days: bad date '2025-02-30'"),
    ("line_rules.json", "[]", "line_rules.json: expected a JSON object, found list"),
])
def test_a_bad_reference_or_suite_file_is_one_line_naming_the_file(tmp_path, file, text, says):
    rules = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, rules)
    (rules / file).write_text(text, encoding="utf-8")
    line = _one_line(_claimaudit(tmp_path, "catalogue", "--check", AUDIT_EXPECTATIONS_DIR=str(rules)))
    assert says in line


def test_a_range_that_ends_before_it_starts_is_one_line(tmp_path):
    line = _one_line(_claimaudit(tmp_path, "audit", "--from", "2025-06-10", "--to", "2025-06-02"))
    assert line == "claimaudit: range ends (2025-06-02) before it starts (2025-06-10)"


@pytest.mark.parametrize("error", [ClaimAuditError, ConfigurationError, ReferenceDataError, SuiteError, LayoutError,
                                   RuleEvaluationError, PipelineStateError])
def test_every_branch_of_the_tree_maps_to_one_line_and_exit_2(monkeypatch, capsys, error):
    def fails(args, settings):
        raise error("what is wrong\n  and where: line 2")

    monkeypatch.setitem(cli._COMMANDS, "migrate", fails)
    assert cli.main(["migrate"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "claimaudit: what is wrong and where: line 2\n" and captured.out == ""


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch):
    def fails(args, settings):
        raise KeyError("a bug")

    monkeypatch.setitem(cli._COMMANDS, "migrate", fails)
    with pytest.raises(KeyError):
        cli.main(["migrate"])


def test_branches_that_replaced_builtin_errors_still_are_them():
    """Callers written against the ValueError/RuntimeError these replaced still catch them."""
    assert issubclass(ConfigurationError, ValueError) and issubclass(ReferenceDataError, ValueError)
    assert issubclass(SuiteError, ReferenceDataError) and issubclass(LayoutError, ReferenceDataError)
    assert issubclass(RuleEvaluationError, RuntimeError)
