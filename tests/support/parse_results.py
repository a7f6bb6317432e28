"""A ParseResult built from compact claim specs, for tests that write history rows directly
(store, report, review) without writing and parsing an 837 first."""

from __future__ import annotations

import hashlib
from datetime import date

from claimaudit.model import Claim, Diagnosis, Envelope, ParseResult, Rejection, ServiceLine


def build_parse_result(source_file: str, claims: list[dict], *, sender: str = "CLINIC01", isa: str = "000000101",
                       isa_date=None, rejections: list[dict] | None = None, content_salt: str = ""):
    """A ParseResult built from compact claim specs, as the parser would produce it.

    claim spec keys: claim_id, lines [(code, modifiers, date_of_service[, units])], and optional
    freq ("1"/"7"/"8"), ref (REF*F8), npi, patient, payer_class, type ("P"/"I"), dx [codes].
    The file hash covers the specs (plus ``content_salt``), so a different file gets a new hash.
    """
    isa_date = isa_date or date(2025, 6, 1)
    sha = hashlib.sha256(f"{source_file}|{sender}|{isa}|{claims!r}|{rejections!r}|{content_salt}".encode()).hexdigest()
    kind = claims[0].get("type", "P") if claims else "P"
    result = ParseResult(source_file=source_file, file_sha256=sha)
    if claims:
        result.envelopes.append(Envelope(source_file, sha, isa, sender, "PAYER01", isa_date, "1", "005010X222A1",
                                         "0001", kind))
    for ordinal, spec in enumerate(claims, start=1):
        key = hashlib.sha256(f"{sender}|{isa}|1|0001|{spec['claim_id']}|{ordinal}".encode()).hexdigest()[:32]
        patient = hashlib.sha256(f"PAYER|{spec.get('patient', 'P1')}".encode()).hexdigest()[:32]
        lines = spec.get("lines", [])
        result.claims.append(Claim(
            claim_key=key, claim_id=spec["claim_id"], source_file=source_file, file_sha256=sha,
            interchange_control=isa, sender_id=sender, group_control="1", transaction_control="0001",
            transaction_type=spec.get("type", "P"), patient_key=patient, payer_id="PAYER01",
            payer_class=spec.get("payer_class", "CI"), billing_npi=spec.get("npi", "1234567893"),
            rendering_npi="", total_charge=100.0 * len(lines), facility_code="11", facility_qualifier="B",
            frequency_code=spec.get("freq", "1"), original_claim_ref=spec.get("ref", ""), statement_from=None,
            statement_to=None, claim_service_date=None, line_count=len(lines)))
        for n, line in enumerate(lines, start=1):
            code, mods, dos = line[:3]
            units = line[3] if len(line) > 3 else 1.0
            result.lines.append(ServiceLine(
                claim_key=key, claim_id=spec["claim_id"], line_number=n, procedure_code=code, modifiers=mods,
                charge=100.0, units=units, unit_basis="UN", place_of_service="11", revenue_code="",
                dx_pointers="1", date_of_service=dos, dos_raw=dos.strftime("%Y%m%d") if dos else "",
                rendering_npi=""))
        for pos, code in enumerate(spec.get("dx", ["C61"]), start=1):
            result.diagnoses.append(Diagnosis(claim_key=key, claim_id=spec["claim_id"], position=pos,
                                              qualifier="ABK" if pos == 1 else "ABF", code=code))
    for rej in rejections or []:
        result.rejections.append(Rejection(
            source_file=source_file, file_sha256=sha, unit=rej.get("unit", "file"),
            interchange_control=rej.get("isa", ""), transaction_control=rej.get("st", ""),
            segment_position=rej.get("position"), segment_id=rej.get("segment", ""), reason=rej["reason"]))
    return result
