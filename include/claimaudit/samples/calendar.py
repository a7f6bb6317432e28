"""Treatment-day calendar: radiation is delivered and claims are sent on US business days.

Federal holidays matter because a course pauses on them (Memorial Day 2025-05-26 sits just
before the demo window) and clearinghouses send no files.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    d = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@lru_cache(maxsize=None)
def holidays(year: int) -> frozenset[date]:
    """Holidays a radiation department and the clearinghouse typically close on."""
    return frozenset({
        _observed(date(year, 1, 1)),
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(date(year, 6, 19)),  # Juneteenth
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    })


def is_business_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays(d.year)


class BusinessDays:
    """Business days indexed from an anchor: ``bd[0]`` is the first business day on or after
    ``anchor``; negative indexes go back in time."""

    def __init__(self, anchor: date):
        d = anchor
        while not is_business_day(d):
            d += timedelta(days=1)
        self._forward = [d]
        self._backward = [d]  # _backward[i] == bd[-i]

    def __getitem__(self, k: int) -> date:
        if k >= 0:
            while len(self._forward) <= k:
                d = self._forward[-1] + timedelta(days=1)
                while not is_business_day(d):
                    d += timedelta(days=1)
                self._forward.append(d)
            return self._forward[k]
        while len(self._backward) <= -k:
            d = self._backward[-1] - timedelta(days=1)
            while not is_business_day(d):
                d -= timedelta(days=1)
            self._backward.append(d)
        return self._backward[-k]

    def index_of(self, d: date) -> int:
        """Index of the last business day on or before ``d``."""
        k = 0
        if d >= self[0]:
            while self[k + 1] <= d:
                k += 1
            return k
        while self[k] > d:
            k -= 1
        return k
