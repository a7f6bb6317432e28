"""Who bills what in the sample extracts: the billing providers, payers, fee schedule and the
codes a course uses on a given date of service.

Three billers send files: a hospital outpatient department (837I facility claims), the
hospital-based physician group (837P professional components at place of service 22) and a
freestanding centre (837P global claims at place of service 11). All names and numbers are
synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from claimaudit.samples.npi import make_npi


@dataclass(frozen=True)
class Biller:
    key: str
    kind: str  # "P" or "I"
    name: str
    npi: str
    sender: str  # ISA06
    file_prefix: str
    claim_prefix: str  # CLM01 prefix: patient account numbers differ per biller
    place_of_service: str  # CLM05-1
    component: str  # "facility" (technical), "professional" (-26) or "global"
    physicians: tuple[str, ...]  # rendering / attending NPIs


HOSPITAL = Biller("HOSP", "I", "LAKESIDE GENERAL HOSPITAL", make_npi("182604371"), "LAKESIDEHOSP",
                  "LAKESIDE", "LGH", "13", "facility",
                  (make_npi("131457026"), make_npi("141620819"), make_npi("158833045"), make_npi("167702113")))
PHYSICIANS = Biller("PHYS", "P", "LAKESIDE RADIATION ONCOLOGY ASSOC", make_npi("193571208"), "LAKESIDERADONC",
                    "RADONC", "LRO", "22", "professional", HOSPITAL.physicians)
FREESTANDING = Biller("FS", "P", "PRAIRIE CANCER CENTER", make_npi("174409326"), "PRAIRIECC",
                      "PRAIRIECC", "PCC", "11", "global",
                      (make_npi("120931574"), make_npi("136098862"), make_npi("149227750")))


@dataclass(frozen=True)
class Payer:
    payer_id: str
    name: str
    sbr09_837p: str
    sbr09_837i: str
    member_format: str  # "mbi", "alpha9", "digits"


MEDICARE = Payer("MCRJ6", "MEDICARE", "MB", "MA", "mbi")
# Some hospitals send Part A (facility) claims to another payer id than Part B (physician) claims.
MEDICARE_PART_A = Payer("MCRJ6A", "MEDICARE PART A", "MA", "MA", "mbi")
PAYERS = (
    (0.30, Payer("PBLUE1", "PRAIRIE BLUE CROSS", "BL", "BL", "alpha9")),
    (0.14, Payer("UNXMP2", "UNITED EXAMPLE HEALTH", "CI", "CI", "alpha9")),
    (0.30, MEDICARE),
    (0.16, Payer("MAHMO3", "HEARTLAND MEDICARE ADVANTAGE HMO", "16", "16", "alpha9")),
    (0.10, Payer("ILMCD4", "STATE MEDICAID", "MC", "MC", "digits")),
)

# Chargemaster: (technical part, professional part). Global = both; -26 = professional only.
FEES: dict[str, tuple[float, float]] = {
    "77014": (230.00, 62.00), "77263": (0.0, 420.00), "77280": (720.00, 180.00), "77290": (1480.00, 260.00),
    "77295": (2650.00, 540.00), "77300": (265.00, 95.00), "77301": (5200.00, 1050.00), "77306": (610.00, 150.00),
    "77334": (520.00, 135.00), "77336": (240.00, 0.0), "77338": (2300.00, 310.00), "77373": (4350.00, 0.0),
    "77385": (1020.00, 0.0), "77386": (1560.00, 0.0), "77387": (0.0, 88.00), "77402": (260.00, 0.0),
    "77407": (495.00, 0.0), "77412": (640.00, 0.0), "77418": (1500.00, 0.0), "77421": (150.00, 40.00), "77427": (0.0, 390.00),
    "77435": (0.0, 1650.00), "G6002": (195.00, 0.0), "G6015": (1020.00, 0.0), "G6016": (1560.00, 0.0),
}
# Codes that only a physician bills (no technical part): the facility never puts them on an 837I.
PROFESSIONAL_ONLY = frozenset({"77263", "77387", "77427", "77435"})
# Codes with no professional part: a professional (-26) claim never carries them.
TECHNICAL_ONLY = frozenset(c for c, (_, prof) in FEES.items() if prof == 0.0)


def charge(code: str, modifiers: tuple[str, ...], component: str, units: float = 1) -> float:
    tech, prof = FEES[code]
    if "26" in modifiers:
        amount = prof
    elif "TC" in modifiers or component == "facility":
        amount = tech
    else:
        amount = tech + prof
    return round(amount * units, 2)


def imrt_delivery_code(level: str, dos: date, medicare_freestanding: bool) -> str:
    """The IMRT delivery code valid on ``dos``: 77418 before 2015; 77385/77386 (G6015/G6016 for
    Medicare's fee schedule) 2015-2025; 77407/77412 from 2026, when CPT deleted 77385/77386."""
    if dos < date(2015, 1, 1):
        return "77418"
    if dos >= date(2026, 1, 1):
        return "77407" if level == "simple" else "77412"
    if medicare_freestanding:
        return "G6015"  # MLC-based IMRT at either complexity (G6016 is compensator-based IMRT)
    return "77385" if level == "simple" else "77386"


def guidance_codes(dos: date, medicare_freestanding: bool) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Image guidance billed beside an IMRT delivery, as (code, modifiers). The technical part is
    bundled into 77385/77386, so only the professional 77387-26 is billed; Medicare's fee schedule
    paid G6002 instead; before 2015, 77421."""
    if dos < date(2015, 1, 1):
        return (("77421", ("26",)),)
    if medicare_freestanding and dos < date(2026, 1, 1):
        return (("G6002", ()),)
    return (("77387", ("26",)),)


SURNAMES = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
            "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE",
            "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK", "RAMIREZ",
            "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT", "SCOTT", "TORRES", "NGUYEN")
FIRST_F = ("MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "BARBARA", "SUSAN", "JESSICA", "KAREN",
           "NANCY", "LISA", "BETTY", "SANDRA", "DONNA", "CAROL", "RUTH", "SHARON", "MICHELLE")
FIRST_M = ("JAMES", "ROBERT", "JOHN", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "THOMAS",
           "CHARLES", "DANIEL", "MATTHEW", "ANTHONY", "MARK", "DONALD", "STEVEN", "PAUL", "ANDREW")
