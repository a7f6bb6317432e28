"""The rule catalogue auditors read, generated from the suites' metadata.

``docs/rule-catalogue.md`` is the output of ``render_catalogue_markdown``; a test fails when the
committed page and the suites disagree (regenerate with ``claimaudit rules-catalogue``).
"""

from __future__ import annotations

from pathlib import Path

from claimaudit.rules.reference import load_reference
from claimaudit.rules.suites import SuiteError, load_suites, ruleset_version

SCOPE_ORDER = {"line": 0, "day": 1, "course": 2, "claim": 3}
SCOPE_TITLES = {
    "line": "Line rules (one service line)",
    "day": "Same-day rules (same patient, same date of service, across every claim seen)",
    "course": "Course rules (a patient's deliveries at most the course gap apart)",
    "claim": "Claim rules",
}
FIELDS = ("title", "severity", "scope", "effective_from", "effective_to", "citation", "message", "fix")
# Optional: the claim-specific fixes (see rules.suites.choose_fix); compared like FIELDS.
OPTIONAL_FIELDS = ("fix_variants",)


def rule_catalogue(expectations_dir: Path) -> dict[str, dict]:
    """rule_id -> title, severity, scope, dates, citation, message, fix (+ the suites it lives in).

    A rule may be several expectations (e.g. one per complexity level); their metadata must agree.
    """
    out: dict[str, dict] = {}
    for suite in load_suites(expectations_dir, check_with_gx=False):  # metadata only: no GX import
        for exp in suite.expectations:
            meta = exp["meta"]
            entry = {k: meta[k] for k in FIELDS} | {k: meta.get(k) or [] for k in OPTIONAL_FIELDS}
            known = out.get(meta["rule_id"])
            if known is None:
                out[meta["rule_id"]] = {**entry, "suites": [suite.name]}
                continue
            if {k: known[k] for k in FIELDS + OPTIONAL_FIELDS} != entry:
                raise SuiteError(f"{suite.path.name}: {meta['rule_id']} metadata differs between its expectations")
            if suite.name not in known["suites"]:
                known["suites"].append(suite.name)
    return dict(sorted(out.items(), key=lambda kv: (SCOPE_ORDER[kv[1]["scope"]], kv[0])))


def _cell(text) -> str:
    return ("—" if text in (None, "") else str(text)).replace("|", "\\|").replace("\n", " ")


def _when(cond: dict) -> str:
    return " and ".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in cond.items())


def fix_text(rule: dict) -> str:
    """The general fix, then each claim-specific variant with the condition that selects it."""
    variants = [f"*{_when(v['when'])}:* {v['fix']}" for v in rule.get("fix_variants") or ()]
    return rule["fix"] + (" Per claim, first match: " + " / ".join(variants) if variants else "")


def render_catalogue_markdown(expectations_dir: Path) -> str:
    catalogue = rule_catalogue(expectations_dir)
    reference = load_reference(expectations_dir)
    lines = [
        "# Rule catalogue",
        "",
        "<!-- GENERATED from expectations/*.json by claimaudit.rules.catalogue.render_catalogue_markdown;"
        " do not edit by hand. -->",
        "",
        f"Ruleset version `{ruleset_version(expectations_dir)}`: {len(catalogue)} rules. A rule applies to lines whose"
        " date of service lies between its dates (— = open). Severity `error`: the claim will deny or is"
        " non-compliant; `warning`: a person should review it.",
        "",
    ]
    for scope in SCOPE_ORDER:
        rules = {k: v for k, v in catalogue.items() if v["scope"] == scope}
        if not rules:
            continue
        lines += [f"## {SCOPE_TITLES[scope]}", "",
                  "| rule_id | severity | dates of service | what is wrong | fix | source | suite |",
                  "|---|---|---|---|---|---|---|"]
        for rid, r in rules.items():
            dates = f"{r['effective_from'] or '—'} … {r['effective_to'] or '—'}"
            lines.append(f"| `{rid}` | {r['severity']} | {dates} | **{_cell(r['title'])}.** {_cell(r['message'])}"
                         f" | {_cell(fix_text(r))} | {_cell(r['citation'])} | {', '.join(r['suites'])} |")
        lines.append("")
    lines += ["## Reference data", "",
              "Code lists and thresholds the rules read (`expectations/reference/`), each entry with its own"
              " effective dates.", "",
              "| list | matches | values (effective from … to) |", "|---|---|---|"]
    for name, cl in reference.code_lists.items():
        values = ", ".join(f"{e.value} ({e.effective_from or '—'} … {e.effective_to or '—'})" for e in cl.entries)
        lines.append(f"| `{name}` | {cl.field} ({cl.match}) | {_cell(values)} |")
    lines += ["", "| threshold | value (effective from … to) |", "|---|---|"]
    for name, t in reference.thresholds.items():
        values = ", ".join(f"{v} ({a or '—'} … {b or '—'})" for v, a, b in t.entries)
        lines.append(f"| `{name}` | {values} |")
    lines += ["", "| fraction ceiling: site | diagnoses | sessions |", "|---|---|---|"]
    for c in reference.ceilings:
        lines.append(f"| {c.site} | {_cell(', '.join(c.values) or 'any')} ({c.match}) | {c.ceiling} |")
    return "\n".join(lines) + "\n"
