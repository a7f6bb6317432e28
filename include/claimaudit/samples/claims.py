"""Claim drafts: a writer ``Claim`` plus who sends it and on which inbox day.

CLM01 is assigned only when the day's files are written, in a fixed order, so that ids are
deterministic and replacement claims can name the original in REF*F8.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from claimaudit.samples.catalog import PROFESSIONAL_ONLY, Biller, Payer, charge
from claimaudit.samples.x12_writer import Claim, Line, Patient

DELIVERY_REVENUE = "0333"  # radiation therapy, treatment
PLANNING_REVENUE = "0330"  # radiation therapy, general


@dataclass(slots=True)
class Draft:
    biller: Biller
    received: date
    claim: Claim
    batch: int = 1  # a second batch goes into its own file (late charges)
    replaces: "Draft | None" = None  # frequency 7/8: REF*F8 names this claim's CLM01


@dataclass(frozen=True, slots=True)
class Person:
    """One patient as each claim type identifies them: Medicare facility claims carry SBR09 MA
    (Part A), professional claims MB (Part B); the member id and payer are the same."""

    on_837p: Patient
    on_837i: Patient
    payer: Payer

    def for_biller(self, biller: Biller) -> Patient:
        return self.on_837i if biller.kind == "I" else self.on_837p


def person(payer: Payer, member_id: str, last: str, first: str, birth: date, sex: str,
           subscriber: Patient | None = None) -> Person:
    p = Patient(member_id, last, first, birth, sex, payer.sbr09_837p, payer.payer_id, payer.name, subscriber)
    i = replace(p, payer_class=payer.sbr09_837i,
                subscriber=replace(subscriber, payer_class=payer.sbr09_837i) if subscriber else None)
    return Person(p, i, payer)


def service_line(biller: Biller, code: str, dos: date | None, modifiers: tuple[str, ...] = (), units: float = 1,
                 pointers: tuple[int, ...] = (1, 2), revenue: str = "", split: bool = True) -> Line:
    """A line as ``biller`` writes it: the professional group adds 26 to split codes (unless
    ``split`` is false: a coding error), the facility bills under a 033x revenue code."""
    if split and biller.component == "professional" and code not in PROFESSIONAL_ONLY and "26" not in modifiers:
        modifiers = ("26",) + modifiers
    if biller.kind == "I":
        return Line(code, dos, modifiers, units, charge(code, modifiers, biller.component, units),
                    revenue_code=revenue or DELIVERY_REVENUE, dx_pointers=())
    return Line(code, dos, modifiers, units, charge(code, modifiers, biller.component, units), dx_pointers=pointers)


def new_claim(biller: Biller, who: Person, diagnoses: tuple[str, ...], lines: list[Line], physician: str,
              place_of_service: str = "") -> Claim:
    return Claim(
        claim_id="",
        patient=who.for_biller(biller),
        lines=lines,
        diagnoses=diagnoses,
        billing_npi=biller.npi,
        rendering_npi=physician,
        facility_code=place_of_service or biller.place_of_service,
        billing_name=biller.name,
    )
