"""Hostile deliveries for issue 16: out-of-spec values, odd file names, links, archives.

Each builder writes a day's inbox folder of real 837 bytes (the sample writer) with one planted
problem per file, next to a clean file that must still be audited."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837

DAY = date(2025, 6, 3)
CREATED = datetime(2025, 6, 3, 22, 15)


def patient(n: int) -> Patient:
    return Patient(f"H{n:06d}", f"HOSTILE{n}", "PAT", date(1950, 1, 1 + n % 27))


def imrt_claim(claim_id: str, n: int, **kw) -> Claim:
    plan = Line("77301", date(2025, 5, 20), charge=2500.0, dx_pointers=(1, 2))
    delivery = Line("77386", DAY, charge=900.0, dx_pointers=(1, 2))
    return Claim(claim_id, patient(n), [plan, delivery], diagnoses=("Z510", "C61"), facility_code="11", **kw)


def extract(control: int, claims: list[Claim]) -> bytes:
    return render_837(Interchange("P", claims, control=control, created=CREATED))


def out_of_spec_files() -> dict[str, bytes]:
    """One clean file and one file per out-of-spec value; each bad file also holds a sound claim
    (or transaction set) that must still be loaded."""
    files = {"00_clean.x12": extract(601, [imrt_claim("CLEAN-1", 1), imrt_claim("CLEAN-2", 2)])}
    long_id = "X" * 45  # CLM01 is at most 38 characters
    files["01_long_clm01.x12"] = extract(602, [imrt_claim(long_id, 3), imrt_claim("OK-CLM01", 4)])
    # GS06 of 10 digits: the writer uses the ISA13 number; rewrite GS06/GE02 only.
    gs = extract(603, [imrt_claim("OK-GS06", 5)]).replace(b"*603*X*", b"*1234567890*X*").replace(
        b"GE*1*603~", b"GE*1*1234567890~")
    files["02_long_gs06.x12"] = gs
    files["03_long_npi.x12"] = extract(604, [imrt_claim("LONG-NPI", 6, billing_npi="123456789301"),
                                             imrt_claim("OK-NPI", 7)])
    # A six-letter junk segment id between GE and IEA rejects its interchange; the file's second
    # interchange is sound.
    junk = extract(605, [imrt_claim("JUNK-SEG", 8)]).replace(b"IEA*", b"ZZZZZZ*1~\nIEA*", 1)
    files["04_junk_segment.x12"] = junk + extract(615, [imrt_claim("OK-JUNK", 9)])
    # A long procedure code (SV1-01-2), diagnosis and modifier run: still one claim each.
    files["05_long_codes.x12"] = extract(606, [
        Claim("LONG-PROC", patient(10), [Line("7738677386773867738677386773867738677386773867738677386",
                                               DAY, charge=900.0)], diagnoses=("C61",), facility_code="11"),
        Claim("LONG-DX", patient(11), [Line("77386", DAY, charge=900.0)], diagnoses=("C" + "6" * 40,),
              facility_code="11"),
        Claim("LONG-MODS", patient(12), [Line("77386", DAY, modifiers=("TC", "26", "76", "59"), charge=900.0)],
              diagnoses=("C61",), facility_code="11"),
        imrt_claim("OK-CODES", 13)])
    # A long sender id in ISA06 cannot be (fixed width); a long payer id can.
    long_payer = Patient("H000014", "HOSTILE14", "PAT", date(1950, 1, 14), payer_id="P" * 90)
    files["06_long_payer.x12"] = extract(607, [
        Claim("LONG-PAYER", long_payer, [Line("77386", DAY, charge=900.0)], diagnoses=("C61",), facility_code="11"),
        imrt_claim("OK-PAYER", 15)])
    # A huge LX01 line number (an int4 column on PostgreSQL).
    huge = extract(608, [imrt_claim("HUGE-LX", 16), imrt_claim("OK-LX", 17)])
    files["07_huge_lx.x12"] = huge.replace(b"LX*1~", b"LX*99999999999~", 1)
    # A NUL byte inside a value: PostgreSQL text cannot hold it.
    files["08_nul_byte.x12"] = extract(609, [imrt_claim("NUL-CLM", 18, billing_name="ACME\x00RAD"),
                                             imrt_claim("OK-NUL", 19)]).replace(b"CLM*NUL-CLM*", b"CLM*NUL\x00CLM*")
    return files


def write_day(inbox: Path, files: dict[str, bytes], day: date = DAY) -> Path:
    folder = inbox / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder
