"""The history slice a day's audit reads: only claim versions current *as of that day*.

A lineage's versions are ordered as the store orders them (received_date, interchange date, load
order). Reading an earlier day after later versions arrived must give what that day saw, also for
chains of replacements, where the store points every older version at the newest one.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from claimaudit.rules.history import read_history
from claimaudit.store import schema as t
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2, D3, D4 = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4), date(2025, 6, 5)


def version(name: str, isa: str, *, freq: str = "1", lines: int = 1, isa_date: date | None = None):
    """One file holding one version of claim C100 (lineage C100) for patient P1."""
    spec = {"claim_id": "C100", "freq": freq, "ref": "C100" if freq in ("7", "8") else "",
            "lines": [("77386", "", D1)] * lines}
    return build_parse_result(name, [spec], isa=isa, isa_date=isa_date)


def key_of(result) -> str:
    return result.claims[0].claim_key


def current_keys(engine, day: date) -> tuple[set[str], set[str]]:
    """(claim keys of the slice's lines, claim keys of the day's claims) as of ``day``."""
    history = read_history(engine, day)
    return set(history.lines["claim_key"]), set(history.claims["claim_key"])


def test_a_replacement_chain_read_as_of_each_day(engine):
    a = version("a.837", "000000001")
    b = version("b.837", "000000002", freq="7", lines=2)
    c = version("c.837", "000000003", freq="7", lines=3)
    for result, day in ((a, D1), (b, D2), (c, D3)):
        load_results(engine, [result], day)
    with engine.connect() as conn:  # the store points A and B at the newest version, C
        pointers = dict(conn.execute(sa.select(t.claim.c.claim_key, t.claim.c.superseded_by)).all())
    assert pointers == {key_of(a): key_of(c), key_of(b): key_of(c), key_of(c): None}

    assert current_keys(engine, D1) == ({key_of(a)}, {key_of(a)})
    # Day 2 after all three are loaded: B replaced A; C did not exist yet. A must not come back.
    lines_d2, claims_d2 = current_keys(engine, D2)
    assert (lines_d2, claims_d2) == ({key_of(b)}, {key_of(b)})
    assert len(read_history(engine, D2).lines) == 2  # B's two lines, none of A's
    assert current_keys(engine, D3) == ({key_of(c)}, {key_of(c)})


def test_a_void_withdraws_the_lineage_from_its_day_on(engine):
    a = version("a.837", "000000001")
    b = version("b.837", "000000002", freq="7", lines=2)
    void = version("v.837", "000000003", freq="8")
    for result, day in ((a, D1), (b, D2), (void, D4)):
        load_results(engine, [result], day)
    assert current_keys(engine, D2) == ({key_of(b)}, {key_of(b)})
    assert current_keys(engine, D4) == (set(), set())  # the void is current: nothing left to audit


def test_same_day_versions_rank_by_interchange_date_then_load_order(engine):
    a = version("a.837", "000000001")
    later_isa = version("x.837", "000000002", freq="7", lines=2, isa_date=date(2025, 6, 3))
    earlier_isa = version("y.837", "000000003", freq="7", lines=3, isa_date=date(2025, 6, 2))
    load_results(engine, [a], D1)
    load_results(engine, [later_isa, earlier_isa], D2)  # loaded first, but the later ISA09 wins
    assert current_keys(engine, D2) == ({key_of(later_isa)}, {key_of(later_isa)})
    with engine.connect() as conn:  # the store agrees on the current version
        newest = conn.scalars(sa.select(t.claim.c.claim_key).where(t.claim.c.superseded_by.is_(None))).all()
    assert newest == [key_of(later_isa)]

    same_isa = version("z.837", "000000004", freq="7", lines=4, isa_date=date(2025, 6, 3))
    load_results(engine, [same_isa], D2)  # same day, same ISA09: the later load wins
    assert current_keys(engine, D2) == ({key_of(same_isa)}, {key_of(same_isa)})
    assert current_keys(engine, D1) == ({key_of(a)}, {key_of(a)})


def test_slice_holds_only_the_days_patients(engine):
    other = build_parse_result("o.837", [{"claim_id": "C200", "patient": "P2", "lines": [("77386", "", D1)]}],
                               isa="000000009")
    load_results(engine, [version("a.837", "000000001"), other], D1)
    load_results(engine, [version("b.837", "000000002", freq="7")], D2)
    history = read_history(engine, D2)
    assert set(history.lines["claim_id"]) == {"C100"}  # P2 sent nothing on day 2: not read
    assert str(history.lines["date_of_service"].dtype) == "datetime64[s]"
