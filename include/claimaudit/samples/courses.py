"""The background workload: clean treatment courses, day by day.

Each course is simulation, planning a day or two later, then one delivery per business day.
A course's claims go out one per biller and service day and arrive one or two business days
later. Courses that start inside the window are planned inside it, so every course rule sees
the plan. Courses already running when the window opens are of kinds no course rule reads
(3D conformal, palliative bone courses, SBRT, Medicare G-code IMRT), so the audit of the window
alone is complete. Background claims are meant to be clean: planted problems live in plants.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from claimaudit.samples.calendar import BusinessDays
from claimaudit.samples.catalog import (
    FIRST_F, FIRST_M, FREESTANDING, HOSPITAL, MEDICARE, PAYERS, PHYSICIANS, PROFESSIONAL_ONLY, SURNAMES,
    TECHNICAL_ONLY, Biller, Payer,
    guidance_codes, imrt_delivery_code,
)
from claimaudit.samples.claims import PLANNING_REVENUE, Draft, Person, new_claim, person, service_line
from claimaudit.samples.x12_writer import Line, Patient

# (weight, kind, IMRT level)
KINDS = ((0.45, "IMRT", "complex"), (0.10, "IMRT", "simple"), (0.10, "SBRT", ""),
         (0.20, "3D", ""), (0.15, "BONE", ""))
# Kinds whose delivery codes no course rule reads: they may already be running at the window start.
ONGOING_KINDS = ((0.60, "3D", ""), (0.25, "BONE", ""), (0.15, "SBRT", ""))

# (primary ICD-10-CM, fractions low, high): all within the FX-OUTLIER ceilings of their site.
SITES = {
    "IMRT": (("C61", 20, 44), ("C50911", 16, 25), ("C50912", 16, 25), ("C3490", 30, 30), ("C01", 30, 35),
             ("C321", 30, 35), ("C109", 33, 35)),
    "SBRT": (("C3411", 3, 5), ("C3490", 1, 5), ("C7951", 1, 3)),
    "3D": (("C50911", 15, 25), ("C3490", 25, 30), ("C61", 28, 39)),
    "BONE": (("C61", 5, 10), ("C50911", 1, 5), ("C3490", 5, 10)),
}
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


def _weighted(rng: random.Random, table):
    x = rng.random()
    for row in table:
        x -= row[0]
        if x < 0:
            return row
    return table[-1]


def member_id(rng: random.Random, fmt: str) -> str:
    if fmt == "mbi":  # Medicare Beneficiary Identifier shape: C A AN N A AN N A A N N
        a, d = _MBI_LETTERS, "0123456789"
        pattern = ("123456789", a, a + d, d, a, a + d, d, a, a, d, d)
        return "".join(rng.choice(chars) for chars in pattern)
    if fmt == "digits":
        return "".join(rng.choice("0123456789") for _ in range(10))
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)) + f"{rng.randrange(10**9):09d}"


def random_person(rng: random.Random, payer: Payer, start: date) -> Person:
    sex = rng.choice("FM")
    last = rng.choice(SURNAMES)
    first = rng.choice(FIRST_F if sex == "F" else FIRST_M)
    if payer.sbr09_837p in ("MB", "16"):
        age = rng.randint(65, 89)
    else:
        age = rng.randint(18, 64)
    birth = date(start.year - age, rng.randint(1, 12), rng.randint(1, 28))
    subscriber = None
    if age < 27 and payer.sbr09_837p in ("BL", "CI") and rng.random() < 0.5:
        # A young adult on a parent's plan: the claim carries a 2000C patient loop.
        parent_sex = rng.choice("FM")
        subscriber = Patient(member_id(rng, payer.member_format), last, rng.choice(FIRST_F if parent_sex == "F" else FIRST_M),
                             date(birth.year - rng.randint(22, 35), rng.randint(1, 12), rng.randint(1, 28)),
                             parent_sex, payer.sbr09_837p, payer.payer_id, payer.name)
    return person(payer, subscriber.member_id + "02" if subscriber else member_id(rng, payer.member_format),
                  last, first, birth, sex, subscriber)


@dataclass(slots=True)
class Course:
    number: int
    site: str  # "HOSP" (facility 837I + physician 837P) or "FS" (freestanding 837P, global)
    kind: str  # IMRT, SBRT, 3D, BONE
    level: str  # IMRT: simple | complex
    who: Person
    diagnoses: tuple[str, ...]
    fractions: int
    sim_k: int
    plan_k: int
    first_fx_k: int
    physician_index: int

    @property
    def billers(self) -> tuple[Biller, ...]:
        return (HOSPITAL, PHYSICIANS) if self.site == "HOSP" else (FREESTANDING,)

    def physician(self, biller: Biller) -> str:
        return biller.physicians[self.physician_index % len(biller.physicians)]

    def service_days(self) -> list[int]:
        return [self.sim_k, self.plan_k] + list(range(self.first_fx_k, self.first_fx_k + self.fractions))


def new_course(rng: random.Random, number: int, sim_k: int, start: date, ongoing: bool) -> Course:
    _, kind, level = _weighted(rng, ONGOING_KINDS if ongoing else KINDS)
    primary, lo, hi = rng.choice(SITES[kind])
    site = "HOSP" if rng.random() < 0.55 else "FS"
    payer = _weighted(rng, PAYERS)[1]
    diagnoses = ("Z510", primary)
    if kind == "BONE" and primary != "C7951":
        diagnoses = ("Z510", "C7951", primary)  # metastasis first: it is what is treated
    plan_k = sim_k + rng.randint(1, 2)
    return Course(number, site, kind, level, random_person(rng, payer, start), diagnoses,
                  rng.randint(lo, hi), sim_k, plan_k, plan_k + rng.randint(2, 6), rng.randrange(12))


def _weekly(n: int, fractions: int) -> bool:
    """77427 is billed per five fractions; a remainder of three or more counts as a week."""
    return n % 5 == 0 or (n == fractions and n % 5 >= 3)


def course_lines(course: Course, k: int, dos: date, biller: Biller) -> list[Line]:
    """The lines ``biller`` bills for ``course`` on business day ``k`` (empty when none)."""
    codes: list[tuple[str, tuple[str, ...], float, tuple[int, ...]]] = []  # code, modifiers, units, pointers
    if k == course.sim_k:
        codes.append(("77280" if course.kind == "BONE" else "77290", (), 1, (2,)))
    elif k == course.plan_k:
        plan = {"IMRT": ("77301", "77338"), "BONE": ("77306",)}.get(course.kind, ("77295",))
        codes += [(code, (), 1, (2,)) for code in ("77263",) + plan]
        codes.append(("77300", (), 1 + course.number % 4, (2,)))  # dose calculations: several points
        if course.kind != "BONE":
            codes.append(("77334", (), 1 + course.number % 3, (2,)))  # immobilisation devices
    else:
        n = k - course.first_fx_k + 1
        medicare_fs = course.site == "FS" and course.who.payer is MEDICARE
        if course.kind == "IMRT":
            codes.append((imrt_delivery_code(course.level, dos, medicare_fs), (), 1, (1, 2)))
            codes += [(code, mods, 1, (1, 2)) for code, mods in guidance_codes(dos, medicare_fs)]
        elif course.kind == "SBRT":
            codes.append(("77373", (), 1, (1, 2)))
            if n == course.fractions:
                codes.append(("77435", (), 1, (1, 2)))
        elif course.kind == "3D":
            codes += [("77412", (), 1, (1, 2)), ("77014", (), 1, (1, 2))]
        else:
            codes.append(("77407", (), 1, (1, 2)))
        if course.kind != "SBRT" and _weekly(n, course.fractions):
            codes += [("77427", (), 1, (1, 2)), ("77336", (), 1, (2,))]
    lines = []
    for code, mods, units, pointers in codes:
        if biller.component == "facility" and code in PROFESSIONAL_ONLY:
            continue
        if biller.component == "professional" and code in TECHNICAL_ONLY:
            continue
        revenue = PLANNING_REVENUE if k in (course.sim_k, course.plan_k) or code == "77336" else ""
        lines.append(service_line(biller, code, dos, mods, units, pointers, revenue))
    return lines


def _day_signature(course: Course, k: int, dos: date, biller: Biller) -> tuple:
    """Everything ``course_lines`` reads from the course for day ``k``."""
    if k == course.sim_k:
        day = ("sim",)
    elif k == course.plan_k:
        day = ("plan", course.number % 12)
    else:
        n = k - course.first_fx_k + 1
        day = ("fx", n == course.fractions, _weekly(n, course.fractions))
    return (course.kind, course.level, course.site == "FS" and course.who.payer is MEDICARE, biller.key, dos) + day


def _lag(course: Course, k: int, salt: int) -> int:
    # One or two business days between service and arrival; cheap, deterministic, no storage.
    return 2 if (course.number * 7919 + k * 104729 + salt) % 5 == 0 else 1


class Background:
    """Clean courses for the window; ``drafts(k)`` gives the claims arriving on business day k."""

    def __init__(self, rng: random.Random, bd: BusinessDays, last_k: int, census: int):
        self.bd = bd
        self.courses: list[Course] = []
        start = bd[0]
        # Courses already under way, each with at least one fraction left: they hold the census up
        # while the courses that start in the window ramp up.
        for _ in range(census):
            c = new_course(rng, len(self.courses), 0, start, ongoing=True)
            shift = c.first_fx_k + rng.randrange(c.fractions)  # fractions given before bd[0]
            c.sim_k, c.plan_k, c.first_fx_k = c.sim_k - shift, c.plan_k - shift, c.first_fx_k - shift
            self.courses.append(c)
        # New courses (about 22 fractions on average) replace them at a steady rate.
        per_day, owed = census / 22, 0.0
        for k in range(last_k + 1):
            owed += per_day
            while owed >= 1:
                owed -= 1
                self.courses.append(new_course(rng, len(self.courses), k, start, ongoing=False))
        self._lines: dict[tuple, list[Line]] = {}
        self.arrivals: dict[int, list[tuple[int, int, int]]] = {}  # recv k -> (course, service k, biller)
        for c in self.courses:
            n_billers = len(c.billers)
            for k in c.service_days():
                if k > last_k:
                    break
                for b_index in range(n_billers):
                    recv = k + _lag(c, k, b_index)
                    if 0 <= recv <= last_k:
                        self.arrivals.setdefault(recv, []).append((c.number, k, b_index))

    def drafts(self, k: int) -> list[Draft]:
        out = []
        received = self.bd[k]
        for number, service_k, b_index in self.arrivals.get(k, ()):
            course = self.courses[number]
            biller = course.billers[b_index]
            dos = self.bd[service_k]
            # Courses of one kind bill the same lines on the same day: build them once and share
            # the (never mutated) Line objects. Cuts generation time in half at benchmark sizes.
            key = _day_signature(course, service_k, dos, biller)
            lines = self._lines.get(key)
            if lines is None:
                lines = self._lines[key] = course_lines(course, service_k, dos, biller)
            if lines:
                claim = new_claim(biller, course.who, course.diagnoses, lines, course.physician(biller))
                out.append(Draft(biller, received, claim))
        return out

