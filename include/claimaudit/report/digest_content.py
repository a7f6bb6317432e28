"""What one morning digest says (``Digest``) and the settings it is built with (``DigestOptions``).

Kept out of claimaudit.report.digest (which collects it from the report DB and assembles the
email) so that the renderers, render_html and render_text, read it without importing the module
that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote

from claimaudit.report.feed import FeedHealth
from claimaudit.report.worklist import BacklogPoint, ClaimGroup, WorkItem
from claimaudit.store.findings import DaySummary


@dataclass(frozen=True)
class DigestOptions:
    """Everything about the digest that comes from settings (see Settings / README)."""
    detail: str = "worklist"
    max_claims: int = 15
    delivery_days: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()
    low_volume_ratio: float = 0.5
    volume_window: int = 20
    airflow_base_url: str = ""  # "" = unknown: then no finding links
    finding_url_pattern: str = "{base_url}/claims-audit/findings/{finding_id}"
    rule_catalogue_url: str = ""
    data_docs_url: str = ""  # base URL of var/data_docs as served; "" = show the local path
    data_docs_path: str = ""  # the day's index.html on the audit host, when it exists

    @classmethod
    def from_settings(cls, s, *, airflow_base_url: str = "", data_docs_path: str = "") -> "DigestOptions":
        return cls(detail=s.email_detail, max_claims=s.digest_max_claims, delivery_days=s.delivery_days,
                   holidays=s.holidays, low_volume_ratio=s.low_volume_ratio, volume_window=s.volume_window,
                   airflow_base_url=(s.airflow_base_url or airflow_base_url).rstrip("/"),
                   finding_url_pattern=s.finding_url_pattern, rule_catalogue_url=s.rule_catalogue_url,
                   data_docs_url=s.data_docs_url, data_docs_path=data_docs_path)


@dataclass(frozen=True)
class RuleLine:
    rule_id: str
    severity: str
    title: str
    fix: str
    open: int
    new: int
    resolved: int


@dataclass
class Digest:
    """What one digest says; the renderers only lay it out."""
    audit_date: date
    summary: DaySummary
    feed: FeedHealth
    worklist: list[WorkItem]
    groups: list[ClaimGroup]
    series: list[BacklogPoint]
    rules: list[RuleLine]
    catalogue: dict[str, dict]
    options: DigestOptions
    run_url: str = ""
    new: int = 0
    resolved: int = 0
    subject: str = ""
    status: str = "clear"  # alert | work | clear
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, URL or local path)

    @property
    def worklist_mode(self) -> bool:
        return self.options.detail == "worklist"

    @property
    def open(self) -> int:
        return len(self.worklist)

    @property
    def open_errors(self) -> int:
        return sum(i.severity == "error" for i in self.worklist)

    @property
    def shown_groups(self) -> list[ClaimGroup]:
        return self.groups[:max(0, self.options.max_claims)]

    def finding_url(self, finding_id: str) -> str:
        base = self.options.airflow_base_url
        if not (base and self.options.finding_url_pattern):
            return ""
        return self.options.finding_url_pattern.format(base_url=base, finding_id=quote(finding_id, safe=""))
