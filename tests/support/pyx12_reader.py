"""The same rows, read through pyx12's X12ContextReader: the correctness reference.

pyx12 places every segment in its TR3 loop from the implementation-guide maps, so this reader
needs no state machine of its own: loop ids come from each segment's map path. It is about 100x
slower than ``claimaudit.x12.parser.parse_bytes`` and is used only by tests and scripts/bench_parser.py
(``make bench-parser`` puts tests/ on PYTHONPATH for it).
pyx12 ships maps for 005010X222A1 and 005010X223A2 only; other GS08 values raise EngineError.
"""

from __future__ import annotations

import io
from typing import Any

from claimaudit.model import Claim, Diagnosis, ServiceLine
from claimaudit.x12 import dates
from claimaudit.x12.keys import claim_key, patient_key
from claimaudit.x12.transaction import DIAGNOSIS_QUALIFIERS


def _v(node: Any, path: str) -> str:
    value = node.get_value(path)
    return value.strip() if value else ""


def reference_rows(text: str, source_file: str = "", file_sha256: str = "") -> tuple[list, list, list]:
    """(claims, lines, diagnoses) of an 837 text, as pyx12 places its segments."""
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    params = pyx12.params.params()
    reader = pyx12.x12context.X12ContextReader(params, pyx12.error_handler.errh_null(), io.StringIO(text))
    claims: list[Claim] = []
    lines: list[ServiceLine] = []
    diagnoses: list[Diagnosis] = []
    env: dict[str, str] = {}
    hier: dict[str, str] = {}
    claim: dict | None = None

    def finish() -> None:
        nonlocal claim
        if claim is not None:
            _emit(claim, env, hier_at_claim=claim["hier"], claims=claims, lines=lines, diagnoses=diagnoses,
                  source_file=source_file, sha=file_sha256)
        claim = None

    for node in reader.iter_segments():
        sid = node.id
        path = node.cur_path
        loops = path.split("/")
        if sid == "ISA":
            env.update(sender=_v(node, "ISA06"), isa13=_v(node, "ISA13"))
        elif sid == "GS":
            env.update(gs06=_v(node, "GS06"), version=_v(node, "GS08"))
        elif sid == "ST":
            env.update(st02=_v(node, "ST02"))
            env["ordinal"] = "0"
        elif sid == "SE":
            finish()
        elif sid == "HL":
            finish()
            level = _v(node, "HL03")
            if level == "20":
                hier = {}
            elif level == "22":
                hier = {k: v for k, v in hier.items() if k == "billing_npi"}
            else:
                hier = {k: v for k, v in hier.items() if not k.startswith("pat_")}
                hier["has_patient"] = "1"
        elif "2300" not in loops:
            if sid == "NM1" and "2010AA" in loops:
                hier["billing_npi"] = _v(node, "NM109")
            elif sid == "NM1" and "2010BA" in loops:
                hier.update(member=_v(node, "NM109"), sub_last=_v(node, "NM103"))
            elif sid == "DMG" and "2010BA" in loops:
                hier["sub_dob"] = _v(node, "DMG02")
            elif sid == "NM1" and "2010BB" in loops:
                hier["payer_id"] = _v(node, "NM109")
            elif sid == "NM1" and "2010CA" in loops:
                hier.update(pat_last=_v(node, "NM103"))
            elif sid == "DMG" and "2010CA" in loops:
                hier["pat_dob"] = _v(node, "DMG02")
            elif sid == "SBR" and loops[-2] == "2000B":
                hier["payer_class"] = _v(node, "SBR09")
        elif sid == "CLM":
            finish()
            env["ordinal"] = str(int(env["ordinal"]) + 1)
            claim = {"hier": dict(hier), "ordinal": int(env["ordinal"]), "id": _v(node, "CLM01"),
                     "charge": _v(node, "CLM02"), "c1": _v(node, "CLM05-1"), "c2": _v(node, "CLM05-2"),
                     "c3": _v(node, "CLM05-3"), "dos": None, "stmt": None, "ref": "", "hi": [], "rend": "",
                     "lines": []}
        elif claim is None or "2320" in loops:
            continue
        elif "2400" not in loops:
            if sid == "DTP" and loops[-2] == "2300":
                q = _v(node, "DTP01")
                if q == "472" and claim["dos"] is None:
                    claim["dos"] = _v(node, "DTP03")
                elif q == "434" and claim["stmt"] is None:
                    claim["stmt"] = _v(node, "DTP03")
            elif sid == "REF" and loops[-2] == "2300" and _v(node, "REF01") == "F8":
                claim["ref"] = _v(node, "REF02")
            elif sid == "HI":
                for i in range(1, 13):
                    q, code = _v(node, f"HI{i:02d}-1"), _v(node, f"HI{i:02d}-2")
                    if q in DIAGNOSIS_QUALIFIERS and code:
                        claim["hi"].append((q, code))
            elif sid == "NM1" and loops[-2].startswith("2310") and _v(node, "NM101") == "82":
                claim["rend"] = _v(node, "NM109")
        elif "2430" in loops:
            continue
        elif sid == "LX":
            claim["lines"].append({"no": int(_v(node, "LX01")), "dos": None, "rend": ""})
        elif sid == "SV1":
            ln = claim["lines"][-1]
            ln.update(kind="P", proc=_v(node, "SV101-2"),
                      mods=[_v(node, f"SV101-{i}") for i in range(3, 7)], charge=_v(node, "SV102"),
                      basis=_v(node, "SV103"), units=_v(node, "SV104"), pos=_v(node, "SV105"),
                      ptrs=[_v(node, f"SV107-{i}") for i in range(1, 5)], rev="")
        elif sid == "SV2":
            ln = claim["lines"][-1]
            ln.update(kind="I", rev=_v(node, "SV201"), proc=_v(node, "SV202-2"),
                      mods=[_v(node, f"SV202-{i}") for i in range(3, 7)], charge=_v(node, "SV203"),
                      basis=_v(node, "SV204"), units=_v(node, "SV205"), pos="", ptrs=[])
        elif sid == "DTP" and loops[-2] == "2400" and _v(node, "DTP01") == "472":
            if claim["lines"][-1]["dos"] is None:
                claim["lines"][-1]["dos"] = _v(node, "DTP03")
        elif sid == "NM1" and loops[-2].startswith("2420") and _v(node, "NM101") == "82":
            claim["lines"][-1]["rend"] = _v(node, "NM109")
    finish()
    return claims, lines, diagnoses


def _emit(c: dict, env: dict, hier_at_claim: dict, claims, lines, diagnoses, source_file, sha) -> None:
    h = hier_at_claim
    if h.get("has_patient"):
        pkey = patient_key(h.get("member", ""), h.get("pat_last", ""), h.get("pat_dob", ""))
    else:
        pkey = patient_key(h.get("member", ""), h.get("sub_last", ""), h.get("sub_dob", ""))
    kinds = {ln.get("kind") for ln in c["lines"]}
    kind = {"A": "I", "B": "P"}.get(c["c2"]) or ("I" if "I" in kinds else "P")
    key = claim_key(env["sender"], env["isa13"], env["gs06"], env["st02"], c["id"], c["ordinal"])
    fallback = c["dos"] if c["dos"] is not None else (c["stmt"] or "")
    for ln in c["lines"]:
        raw = ln["dos"] if ln["dos"] is not None else fallback
        lines.append(ServiceLine(
            claim_key=key, claim_id=c["id"], line_number=ln["no"], procedure_code=ln["proc"],
            modifiers=",".join(m for m in ln["mods"] if m), charge=dates.number(ln["charge"]),
            units=dates.number(ln["units"]), unit_basis=ln["basis"],
            place_of_service=(ln["pos"] or c["c1"]) if kind == "P" else "", revenue_code=ln["rev"],
            dx_pointers=",".join(p for p in ln["ptrs"] if p) if kind == "P" else "",
            date_of_service=dates.first_day(raw) if raw else None, dos_raw=raw,
            rendering_npi=ln["rend"] or c["rend"],
        ))
    for i, (q, code) in enumerate(c["hi"], start=1):
        diagnoses.append(Diagnosis(claim_key=key, claim_id=c["id"], position=i, qualifier=q, code=code))
    stmt = dates.period(c["stmt"]) if c["stmt"] else (None, None)
    claims.append(Claim(
        claim_key=key, claim_id=c["id"], source_file=source_file, file_sha256=sha,
        interchange_control=env["isa13"], sender_id=env["sender"], group_control=env["gs06"],
        transaction_control=env["st02"], transaction_type=kind, patient_key=pkey,
        payer_id=h.get("payer_id", ""), payer_class=h.get("payer_class", ""),
        billing_npi=h.get("billing_npi", ""), rendering_npi=c["rend"], total_charge=dates.number(c["charge"]),
        facility_code=c["c1"], facility_qualifier=c["c2"], frequency_code=c["c3"], original_claim_ref=c["ref"],
        statement_from=stmt[0], statement_to=stmt[1],
        claim_service_date=dates.first_day(c["dos"]) if c["dos"] else None, line_count=len(c["lines"]),
    ))
