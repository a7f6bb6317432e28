"""Other departments' claims: real daily extracts carry every department, not only radiation oncology.

The generator mixes these into each file so that radiation oncology is a minority of its claims
(``radonc_share``). They carry no radiation-oncology code, so no rule may fire on them: some carry
what a rule would flag on a radiation-oncology claim (a dotted diagnosis, the same visit billed on
two claims, a patient who is also under treatment), which is what makes "no finding" a real check.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import replace

from claimaudit.errors import ConfigurationError
from claimaudit.samples.catalog import PAYERS, Biller
from claimaudit.samples.claims import Draft, new_claim
from claimaudit.samples.courses import _weighted, random_person
from claimaudit.samples.npi import make_npi
from claimaudit.samples.x12_writer import Line

DEFAULT_RADONC_SHARE = 0.3  # radiation-oncology claims per file, at most; the rest are other departments
RADONC_SHARE_ENV = "AUDIT_SAMPLE_RADONC_SHARE"

# Other departments' clinicians (rendering / attending NPIs).
CLINICIANS = tuple(make_npi(base) for base in ("110293847", "120384756", "130475665", "140566574"))

# (department, [(code, modifiers, revenue code, charge)], diagnoses): no radiation-oncology code anywhere.
INSTITUTIONAL = (
    ("lab", [("80053", (), "0301", 48.00), ("85025", (), "0305", 31.00), ("36415", (), "0300", 12.00)],
     ("E119", "I10")),
    ("imaging", [("71046", (), "0324", 210.00)], ("R0602",)),
    ("imaging", [("74177", (), "0352", 1850.00)], ("R109", "C61")),
    ("chemotherapy", [("96413", (), "0335", 620.00), ("J9045", (), "0636", 95.00), ("96375", (), "0260", 140.00)],
     ("Z5111", "C50911")),
    ("emergency", [("99284", (), "0450", 980.00)], ("R079",)),
)
PROFESSIONAL = (
    ("visit", [("99213", (), "", 145.00)], ("I10", "E785")),
    ("visit", [("99214", (), "", 210.00)], ("Z5111", "C3490")),
    ("lab", [("36415", (), "", 12.00), ("80053", (), "", 48.00)], ("E119",)),
    ("imaging", [("71046", ("26",), "", 38.00)], ("R0602",)),
    ("chemotherapy", [("96413", (), "", 410.00), ("J9045", (), "", 95.00)], ("Z5111", "C50911")),
)


def radonc_share(value: float | None = None) -> float:
    """The share of radiation-oncology claims per file: the argument, else $AUDIT_SAMPLE_RADONC_SHARE,
    else the default. 1 writes radiation-oncology claims only."""
    if value is None:
        raw = os.environ.get(RADONC_SHARE_ENV, "").strip()
        value = float(raw) if raw else DEFAULT_RADONC_SHARE
    if not 0 < value <= 1:
        raise ConfigurationError(f"radiation-oncology share must be in (0, 1], got {value}")
    return value


def others_for(n_radonc: int, share: float) -> int:
    """Other-department claims to add so that ``n_radonc`` is at most ``share`` of the file."""
    if share >= 1 or n_radonc == 0:
        return 0
    return max(1, math.ceil(n_radonc * (1 - share) / share))


def other_claims(rng: random.Random, biller: Biller, group: list[Draft], n: int) -> list[Draft]:
    """``n`` other-department claims for ``biller``'s file, dated on or before the day it is sent.
    About a third are for patients of the file's radiation-oncology claims (a lab or a scan of a
    patient under treatment); one in ten writes a diagnosis with a dot; one in twenty is a visit billed
    again on a second claim."""
    if n <= 0 or not group:
        return []
    templates = INSTITUTIONAL if biller.kind == "I" else PROFESSIONAL
    received = group[0].received
    out: list[Draft] = []
    while len(out) < n:
        department, items, dx = rng.choice(templates)
        if rng.random() < 0.35:
            patient = rng.choice(group).claim.patient
        else:
            who = random_person(rng, _weighted(rng, PAYERS)[1], received)
            patient = who.for_biller(biller)
        dos = received if rng.random() < 0.3 else group[rng.randrange(len(group))].claim.lines[0].date_of_service \
            or received
        if dos > received:
            dos = received
        if rng.random() < 0.1:
            dx = tuple(c[:3] + "." + c[3:] if len(c) > 3 else c for c in dx)  # dotted: DQ-DX-FORMAT if audited
        lines = [Line(code, dos, mods, 1, charge, revenue_code=rev or "0333",
                      dx_pointers=() if biller.kind == "I" else (1,)) for code, mods, rev, charge in items]
        claim = new_claim(biller, _AsPerson(patient), dx, lines, rng.choice(CLINICIANS))
        out.append(Draft(biller, received, claim, batch=group[0].batch))
        if department == "visit" and rng.random() < 0.05 and len(out) < n:
            again = replace(claim, lines=[replace(x) for x in lines])
            out.append(Draft(biller, received, again, batch=group[0].batch))
    return out


class _AsPerson:
    """``new_claim`` asks a Person for the patient of a biller; these claims already have it."""

    def __init__(self, patient):
        self._patient = patient

    def for_biller(self, biller: Biller):
        return self._patient
