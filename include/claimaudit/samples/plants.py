"""Planted problems and clean-but-tricky cases, one small story per patient.

Every rule of ``shared/rules/77386-rules.md`` is planted so that it fires at exactly one
(claim, line) inside the first ten business days of the window (the demo window
2025-06-02..2025-06-13). ``bd[k]`` is the k-th business day of the window; a claim for
service on bd[k] normally arrives on bd[k+1]. Where a finding lands follows the rules' convention:
line and day rules on the offending line (the later-received line for cross-claim rules),
course rules on the line that breaks the course, data-quality checks on the claim
(line None) or the line.

A story is kept only when all of its claims arrive inside the window, so a shorter window simply
has fewer plants and the manifest says which.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from claimaudit.samples.calendar import BusinessDays
from claimaudit.samples.catalog import (FREESTANDING, HOSPITAL, MEDICARE, MEDICARE_PART_A, PAYERS, PHYSICIANS, Biller,
                                       Payer)
from claimaudit.samples.claims import PLANNING_REVENUE, Draft, Person, new_claim, service_line
from claimaudit.samples.courses import random_person
from claimaudit.samples.x12_writer import Line

COMMERCIAL = PAYERS[0][1]
COMMERCIAL_2 = PAYERS[1][1]
MEDICARE_ADVANTAGE = PAYERS[3][1]
MEDICAID = PAYERS[4][1]


@dataclass
class Expect:
    rule_id: str
    draft: Draft
    line_number: int | None  # 1-based LX01; None for claim-level checks
    what: str
    resolved_by: Draft | None = None  # a later replacement that removes the finding


@dataclass
class Story:
    name: str
    drafts: list[Draft] = field(default_factory=list)
    expects: list[Expect] = field(default_factory=list)
    clean: list[tuple[str, list[Draft]]] = field(default_factory=list)  # (what must not fire, claims)


class Kit:
    """Builds one story's claims against the window's business days."""

    def __init__(self, bd: BusinessDays, rng: random.Random):
        self.bd = bd
        self.rng = rng

    def person(self, payer: Payer) -> Person:
        return random_person(self.rng, payer, self.bd[0])

    def line(self, biller: Biller, code: str, k: int, mods: tuple[str, ...] = (), units: float = 1,
             pointers: tuple[int, ...] = (1, 2), revenue: str = "", split: bool = True) -> Line:
        return service_line(biller, code, self.bd[k], mods, units, pointers, revenue, split)

    def claim(self, story: Story, biller: Biller, who: Person, dx: tuple[str, ...], lines: list[Line],
              received_k: int, place_of_service: str = "", batch: int = 1, physician: int = 0) -> Draft:
        claim = new_claim(biller, who, dx, lines, biller.physicians[physician], place_of_service)
        draft = Draft(biller, self.bd[received_k], claim, batch=batch)
        story.drafts.append(draft)
        return draft

    def planning(self, story: Story, biller: Biller, who: Person, dx: tuple[str, ...], sim_k: int, plan_k: int,
                 received_k: int, place_of_service: str = "") -> Draft:
        """Simulation and the IMRT plan (77301 with its MLC device 77338) on one claim."""
        plan = [("77290", sim_k, 1), ("77263", plan_k, 1), ("77301", plan_k, 1), ("77338", plan_k, 1),
                ("77300", plan_k, 3), ("77334", plan_k, 2)]
        lines = [self.line(biller, code, k, units=units, pointers=(2,), revenue=PLANNING_REVENUE)
                 for code, k, units in plan if not (biller.kind == "I" and code == "77263")]
        return self.claim(story, biller, who, dx, lines, received_k, place_of_service)

    def imrt_day(self, biller: Biller, k: int, code: str = "77386", mods: tuple[str, ...] = (),
                 units: float = 1, pointers: tuple[int, ...] = (1, 2), guidance: bool = True) -> list[Line]:
        """One delivery day as ``biller`` bills it: facility delivery, professional 77387-26, or both."""
        lines = []
        if biller.component != "professional":
            lines.append(self.line(biller, code, k, mods, units, pointers))
        if guidance and biller.component != "facility":
            lines.append(self.line(biller, "77387", k, ("26",)))
        return lines


def stories(bd: BusinessDays, rng: random.Random) -> list[Story]:
    kit = Kit(bd, rng)
    return [f(kit) for f in (
        _bone_course_over_ceiling, _resimulation_mid_course, _freestanding_prostate, _freestanding_breast,
        _freestanding_lung_advantage, _medicare_freestanding_gcode, _cross_payer_hospital, _inpatient_professional,
        _hospital_head_and_neck, _hospital_breast, _simple_then_complex, _transfer_without_plan,
        _twice_daily_with_76, _void_and_rebill, _interrupted_transfer,
    )]


def _bone_course_over_ceiling(kit: Kit) -> Story:
    """Palliative IMRT to a spine metastasis: the hospital bills the first sessions as one series
    claim, then daily. 11 sessions against the bone-metastasis ceiling of 10."""
    s = Story("bone metastasis course, 11 sessions")
    who, dx, h = kit.person(COMMERCIAL), ("Z510", "C7951"), HOSPITAL
    lines = [kit.line(h, "77290", -8, pointers=(2,), revenue="0330"),
             kit.line(h, "77301", -7, pointers=(2,), revenue="0330"),
             kit.line(h, "77338", -7, pointers=(2,), revenue="0330"),
             kit.line(h, "77300", -7, units=2, pointers=(2,), revenue="0330")]
    lines += [kit.line(h, "77386", k) for k in range(-5, 0)]  # 5 sessions before the window
    kit.claim(s, h, who, dx, lines, 0)
    for k in range(0, 6):  # sessions 6..11
        d = kit.claim(s, h, who, dx, kit.imrt_day(h, k), k + 1)
    s.expects.append(Expect("R77386-FX-OUTLIER", d, 1, "11th 77386 session of a bone-metastasis (C79.51) "
                            "course; ceiling 10"))
    return s


def _resimulation_mid_course(kit: Kit) -> Story:
    """A lung IMRT course billed weekly on one 837I; a re-simulation in the middle of it."""
    s = Story("re-simulation inside a course")
    who, dx, h = kit.person(MEDICARE), ("Z510", "C3490"), HOSPITAL
    kit.planning(s, h, who, dx, -2, 0, 1)
    lines = []
    for k in range(1, 7):
        if k == 4:
            lines.append(kit.line(h, "77290", k, pointers=(2,), revenue="0330"))
            sim_line = len(lines)
        lines.append(kit.line(h, "77386", k))
    d = kit.claim(s, h, who, dx, lines, 7)
    s.expects.append(Expect("R77386-SIM-IN-COURSE", d, sim_line, "simulation 77290 between the first and "
                            "last 77386 of the course"))
    return s


def _freestanding_prostate(kit: Kit) -> Story:
    s = Story("freestanding prostate IMRT, commercial")
    who, dx, f = kit.person(COMMERCIAL_2), ("Z510", "C61"), FREESTANDING
    kit.planning(s, f, who, dx, -2, 0, 1)
    for k in range(1, 9):
        lines = kit.imrt_day(f, k, mods=("TC",) if k == 2 else (), pointers=(1,) if k == 4 else (1, 2))
        if k == 5:
            lines += [kit.line(f, "77427", k), kit.line(f, "77336", k, pointers=(2,))]
        if k == 6:
            lines.append(kit.line(f, "77338", k, pointers=(2,)))
        d = kit.claim(s, f, who, dx, lines, k + 1)
        if k == 2:
            s.expects.append(Expect("R77386-MOD-TC", d, 1, "77386 billed with modifier TC"))
        if k == 4:
            s.expects.append(Expect("R77386-DX-NEOPLASM", d, 1, "77386 points only at Z51.0 (SV1-07 = 1), "
                                    "not at the cancer"))
        if k == 6:
            s.expects.append(Expect("R77338-PER-PLAN", d, 3, "second 77338 in the course with one 77301 plan"))
    return s


def _freestanding_breast(kit: Kit) -> Story:
    s = Story("freestanding breast IMRT, commercial")
    who, dx, f = kit.person(COMMERCIAL), ("Z510", "C50911"), FREESTANDING
    kit.planning(s, f, who, dx, -1, 0, 1)
    for k in range(1, 9):
        if k == 2:  # guidance billed global: its technical part is bundled into 77386
            lines = [kit.line(f, "77386", k), kit.line(f, "77387", k)]
        elif k == 3:  # the delivery billed as if it had a professional component
            lines = [kit.line(f, "77386", k, ("26",)), kit.line(f, "77387", k, ("26",))]
            lines[0].charge = kit.line(f, "77386", k).charge
        else:
            lines = kit.imrt_day(f, k)
        d = kit.claim(s, f, who, dx, lines, k + 1)
        if k == 2:
            s.expects.append(Expect("R77387-MOD-26-REQUIRED", d, 2, "77387 without 26 beside 77386"))
        if k == 3:
            s.expects.append(Expect("R77386-MOD-26", d, 1, "77386 with modifier 26"))
        if k == 6:
            d.claim.total_charge = round(sum(x.charge for x in d.claim.lines) + 100.0, 2)
            s.expects.append(Expect("DQ-CLAIM-CHARGE-SUM", d, None, "CLM02 is 100.00 more than the lines"))
    return s


def _freestanding_lung_advantage(kit: Kit) -> Story:
    s = Story("freestanding lung IMRT, Medicare Advantage")
    who, dx, f = kit.person(MEDICARE_ADVANTAGE), ("Z510", "C3490"), FREESTANDING
    kit.planning(s, f, who, dx, -2, 0, 1)
    for k in range(1, 9):
        lines = kit.imrt_day(f, k)
        if k == 3:  # the physics line's date was cut short when keyed
            physics = kit.line(f, "77336", k, pointers=(2,))
            physics.dos_text = f"{kit.bd[k]:%Y%m%d}"[:7]
            lines.append(physics)
        if k == 5:  # year keyed as 2026
            lines[0].date_of_service = lines[0].date_of_service.replace(year=2026)
        d = kit.claim(s, f, who, dx, lines, k + 1)
        if k == 3:
            s.expects.append(Expect("DQ-DOS-VALID", d, 3, "77336 date of service is 7 digits (unparseable)"))
        if k == 5:
            s.expects += [
                Expect("R77386-DELETED-2026", d, 1, "77386 dated in 2026 (year mistyped): deleted code"),
                # Course rules read 77385/77386 only in their 2015-2025 life, so no PLAN-PRECEDES here.
                Expect("DQ-DOS-VALID", d, 1, "same line: its 2026 date lies after the interchange date"),
            ]
    return s


def _medicare_freestanding_gcode(kit: Kit) -> Story:
    """Medicare's fee schedule paid IMRT as G-codes 2015-2025: G6015 (MLC-based IMRT, simple or complex).
    The G6015 course is a course like any other: a re-simulation inside it is found."""
    s = Story("freestanding prostate IMRT, Medicare Part B (G6015 course)")
    who, dx, f = kit.person(MEDICARE), ("Z510", "C61"), FREESTANDING
    kit.planning(s, f, who, dx, -2, 0, 1)
    for k in range(1, 9):
        if k == 3:
            lines = kit.imrt_day(f, k)  # 77386 + 77387-26 where Medicare wanted G6015
        else:
            lines = [kit.line(f, "G6015", k), kit.line(f, "G6002", k)]
        if k == 5:
            lines.append(kit.line(f, "77290", k - 1, pointers=(2,)))  # dated inside the course
        d = kit.claim(s, f, who, dx, lines, k + 1)
        if k == 3:
            s.expects.append(Expect("R77386-MCR-PFS-USE-GCODE", d, 1, "77386 to Medicare Part B from a "
                                    "freestanding centre in 2025 (G6015 required)"))
        if k == 5:
            s.expects.append(Expect("R77386-SIM-IN-COURSE", d, 3, "simulation 77290 between the first and last "
                                    "G6015 of a Medicare freestanding course"))
    return s


def _cross_payer_hospital(kit: Kit) -> Story:
    """The hospital sends its 837I to Medicare's Part A payer id, the physician group its 837P to the
    Part B payer id: one person (same member id, name, birth date). The physician's 77387 without 26
    is found only when the two claims meet as one patient."""
    s = Story("hospital prostate IMRT, Medicare Part A and Part B payer ids")
    base = kit.person(MEDICARE)
    part_a = replace(base.on_837i, payer_id=MEDICARE_PART_A.payer_id, payer_name=MEDICARE_PART_A.name)
    who = Person(base.on_837p, part_a, MEDICARE)
    dx, h, p = ("Z510", "C61"), HOSPITAL, PHYSICIANS
    kit.planning(s, h, who, dx, -2, 0, 1)
    kit.planning(s, p, who, dx, -2, 0, 1)
    for k in range(1, 7):
        kit.claim(s, h, who, dx, kit.imrt_day(h, k), k + 1)
        prof = kit.imrt_day(p, k)
        if k == 4:
            prof = [kit.line(p, "77387", k)]  # the group's coder dropped the 26
        d = kit.claim(s, p, who, dx, prof, k + 1)
        if k == 4:
            s.expects.append(Expect("R77387-MOD-26-REQUIRED", d, 1, "physician's 77387 without 26 (837P to the "
                                    "Part B payer id) on a day the hospital billed 77386 to the Part A payer id"))
    return s


def _inpatient_professional(kit: Kit) -> Story:
    """An inpatient's head-and-neck course: the hospital's inpatient bill has no CPT lines, the
    physician group bills the professional parts at place of service 21."""
    s = Story("inpatient head and neck, physician bills the delivery")
    who, dx, p = kit.person(MEDICAID), ("Z510", "C01"), PHYSICIANS
    kit.planning(s, p, who, dx, -1, 0, 1, place_of_service="21")
    for k in range(1, 5):
        lines = [kit.line(p, "77386", k, split=False)] if k == 2 else kit.imrt_day(p, k)
        d = kit.claim(s, p, who, dx, lines, k + 1, place_of_service="21")
        if k == 2:
            s.expects.append(Expect("R77386-PROF-IN-FACILITY", d, 1, "837P with 77386 at place of service 21"))
    return s


def _hospital_head_and_neck(kit: Kit) -> Story:
    s = Story("hospital head and neck IMRT, Medicare")
    who, dx, h, p = kit.person(MEDICARE), ("Z510", "C01", "C3490"), HOSPITAL, PHYSICIANS
    kit.planning(s, h, who, dx, -2, 0, 1)
    kit.planning(s, p, who, dx, -2, 0, 1)
    for k in range(1, 9):
        if k in (1, 3):
            lines = kit.imrt_day(h, k, units=2)
        elif k == 5:
            lines = kit.imrt_day(h, k) + kit.imrt_day(h, k)
        elif k == 6:  # SBRT to a lung nodule the same day
            lines = kit.imrt_day(h, k) + [kit.line(h, "77373", k)]
        else:
            lines = kit.imrt_day(h, k)
        d = kit.claim(s, h, who, dx, lines, k + 1)
        if k == 1:
            fixed = kit.claim(s, h, who, dx, kit.imrt_day(h, k), 4)
            fixed.claim.frequency_code, fixed.replaces = "7", d
            s.expects.append(Expect("R77386-UNITS-PER-LINE", d, 1, "77386 with 2 units; replaced (frequency 7) "
                                    "with 1 unit two days later", resolved_by=fixed))
            s.clean.append(("replacement (CLM05-3 = 7, REF*F8) of a claim: not a duplicate", [d, fixed]))
        if k == 3:
            s.expects.append(Expect("R77386-UNITS-PER-LINE", d, 1, "77386 with 2 units on one line"))
        if k == 5:
            s.expects.append(Expect("R77386-BID-76", d, 2, "second 77386 the same day without 76/XE"))
        if k == 6:
            s.expects.append(Expect("R77386-SBRT-SAME-DAY", d, 1, "77386 and 77373 on the same day"))
        prof = kit.imrt_day(p, k) + ([kit.line(p, "77427", k)] if k == 5 else [])
        kit.claim(s, p, who, dx, prof, k + 1)
    return s


def _hospital_breast(kit: Kit) -> Story:
    s = Story("hospital breast IMRT, commercial")
    who, dx, h, p = kit.person(COMMERCIAL), ("Z510", "C50912"), HOSPITAL, PHYSICIANS
    kit.planning(s, h, who, dx, -1, 0, 1)
    kit.planning(s, p, who, dx, -1, 0, 1)
    for k in range(1, 9):
        lines = kit.imrt_day(h, k)
        if k == 2:
            lines.append(kit.line(h, "77014", k))
        if k == 4:
            lines[0].revenue_code = "0320"
        d = kit.claim(s, h, who, dx, lines, k + 1)
        if k == 2:
            s.expects.append(Expect("R77386-GUIDANCE-UNBUNDLED", d, 2, "technical CT guidance 77014 beside 77386"))
        if k == 4:
            s.expects.append(Expect("R77386-837I-REVCODE", d, 1, "77386 under revenue code 0320"))
        prof = kit.imrt_day(p, k)
        if k == 3:  # year keyed as 2014
            prof[0].date_of_service = prof[0].date_of_service.replace(year=2014)
        if k == 5:
            prof.append(kit.line(p, "77427", k))
        d = kit.claim(s, p, who, ("Z51.0", "C50912") if k == 8 else dx, prof, k + 1)
        if k == 3:
            s.expects.append(Expect("R77386-DOS-BEFORE-2015", d, 1, "77387-26 dated 2014 (year mistyped)"))
        if k == 5:
            weekly = d
        if k == 7:
            d.claim.billing_npi = d.claim.billing_npi[:9] + str((int(d.claim.billing_npi[9]) + 1) % 10)
            s.expects.append(Expect("DQ-NPI-CHECKDIGIT", d, None, "billing NPI with a wrong check digit"))
        if k == 8:
            s.expects.append(Expect("DQ-DX-FORMAT", d, None, "diagnosis written with a dot (Z51.0)"))
    again = kit.claim(s, p, who, dx, [kit.line(p, "77427", 5)], 8)
    s.expects.append(Expect("R77386-DUPLICATE", again, 1, f"77427 of {kit.bd[5]} billed again on a new claim "
                            "(first on the claim of that day)"))
    s.clean.append(("same-day professional claim beside the facility claim: no duplicate", [weekly]))
    return s


def _simple_then_complex(kit: Kit) -> Story:
    s = Story("hospital prostate 77385 course with a late 77386 charge")
    who, dx, h = kit.person(COMMERCIAL_2), ("Z510", "C61"), HOSPITAL
    kit.planning(s, h, who, dx, -2, 0, 1)
    for k in range(1, 9):
        kit.claim(s, h, who, dx, kit.imrt_day(h, k, code="77385"), k + 1)
    late = kit.claim(s, h, who, dx, [kit.line(h, "77386", 3)], 6, batch=2)
    s.expects.append(Expect("R77386-SIMPLE-COMPLEX-SAME-DAY", late, 1, f"late-charge 77386 for {kit.bd[3]}, "
                            "a day already billed with 77385, without a distinct-session modifier"))
    second = kit.claim(s, h, who, dx, [kit.line(h, "77386", 5, ("XS",))], 7, batch=2)
    s.clean.append(("77386-XS: a distinct second session on a 77385 day (exempt)", [second]))
    return s


def _transfer_without_plan(kit: Kit) -> Story:
    s = Story("transfer patient: deliveries with no plan on file")
    who, dx, f = kit.person(COMMERCIAL), ("Z510", "C3490"), FREESTANDING
    for k in range(1, 7):
        d = kit.claim(s, f, who, dx, kit.imrt_day(f, k), k + 1)
        if k == 1:
            s.expects.append(Expect("R77386-PLAN-PRECEDES", d, 1, "first 77386 of a course with no 77301 in the "
                                    "45 days before"))
    return s


def _twice_daily_with_76(kit: Kit) -> Story:
    s = Story("hospital head and neck, one twice-daily day")
    who, dx, h, p = kit.person(COMMERCIAL_2), ("Z510", "C109"), HOSPITAL, PHYSICIANS
    kit.planning(s, h, who, dx, -2, 0, 1)
    kit.planning(s, p, who, dx, -2, 0, 1)
    for k in range(1, 9):
        lines = kit.imrt_day(h, k) + (kit.imrt_day(h, k, mods=("76",)) if k == 4 else [])
        d = kit.claim(s, h, who, dx, lines, k + 1)
        if k == 4:
            s.clean.append(("second session the same day on its own line with modifier 76", [d]))
        kit.claim(s, p, who, dx, kit.imrt_day(p, k), k + 1)
    return s


def _void_and_rebill(kit: Kit) -> Story:
    s = Story("freestanding breast IMRT, a claim voided and rebilled")
    who, dx, f = kit.person(COMMERCIAL), ("Z510", "C50912"), FREESTANDING
    kit.planning(s, f, who, dx, -1, 0, 1)
    for k in range(1, 9):
        d = kit.claim(s, f, who, dx, kit.imrt_day(f, k), k + 1, physician=1 if k == 2 else 0)
        if k == 2:  # sent with the wrong rendering physician: voided, then rebilled as a new claim
            void = kit.claim(s, f, who, dx, kit.imrt_day(f, k), 5, physician=1)
            void.claim.frequency_code, void.replaces = "8", d
            rebill = kit.claim(s, f, who, dx, kit.imrt_day(f, k), 6)
            s.clean.append(("void (CLM05-3 = 8) then a new claim for the same day: no duplicate, no BID-76",
                            [d, void, rebill]))
    return s


INTERRUPTED_BATCH = 9  # the generator writes this batch as a file cut off mid-segment


def _interrupted_transfer(kit: Kit) -> Story:
    """Two late professional claims in a file whose transfer broke off (see generator: truncated)."""
    s = Story("interrupted transfer")
    who, dx, p = kit.person(MEDICAID), ("Z510", "C61"), PHYSICIANS
    for k in (2, 3):
        kit.claim(s, p, who, dx, [kit.line(p, "77427", k)], 5, batch=INTERRUPTED_BATCH)
    return s
