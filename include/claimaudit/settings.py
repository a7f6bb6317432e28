"""Where things live, read from the environment with embedded defaults.

Everything defaults to folders inside the project so the demo needs no configuration:
inbox ``var/inbox``, report DB ``sqlite:///var/audit.db``, outbox ``var/outbox``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from claimaudit.errors import ConfigurationError

# include/claimaudit/settings.py -> project root is two levels above the package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


@dataclass(frozen=True)
class Settings:
    inbox: Path
    var_dir: Path
    db_url: str
    email_to: tuple[str, ...]
    email_from: str
    timezone: str
    expectations_dir: Path
    airflow_base_url: str  # "" when unknown: then the email carries no link
    send_all_clear: bool
    # History lines per rule part (a key range of the day's patients): bounds a run_rules task's
    # memory (about 900 MiB at 200k lines, Great Expectations included) and lets a month
    # onboarded at once be audited by several workers side by side.
    rule_part_lines: int = 200_000
    # run_rules tasks (shares) a large day's parts are shared out over: as many as workers can
    # run side by side. Each imports Great Expectations once and audits its parts one after the other.
    rule_tasks: int = 2
    # --- the morning digest (issue 14) ---
    # Days a file is expected (0 = Monday): a day among them without files is an alert.
    delivery_days: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()  # expected-delivery days on which nothing is due
    # A delivery day with fewer claims than this share of the median of recent delivery days is an alert.
    low_volume_ratio: float = 0.5
    volume_window: int = 20  # recent delivery days (with files) the median is taken over
    email_detail: str = "worklist"  # worklist: claim ids + CSV; summary: counts, rules, links only
    digest_max_claims: int = 15  # claims listed in the body; the CSV has every open finding
    # Link to one finding in the findings view, under the Airflow base URL; "" = no link.
    finding_url_pattern: str = "{base_url}/claims-audit/findings/{finding_id}"  # see _finding_pattern
    rule_catalogue_url: str = ""  # where staff read the catalogue (docs/rule-catalogue.md published)
    data_docs_url: str = ""  # where var/data_docs is served; the day's index is <url>/<day>/index.html
    range_daily_digests: bool = False  # a range run (backfill, make audit) mails each day too
    # issue 18: where steps stage their results ("" = <var_dir>/staging); an s3://, gs://... URL lets
    # workers on several hosts share them without a shared file system.
    staging_base: str = ""
    # issue 18: False keeps only claims with a radiation-oncology code (reference data); True keeps all.
    keep_all_claims: bool = False

    @property
    def quarantine_dir(self) -> Path:
        return self.var_dir / "quarantine"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def staging_dir(self) -> Path:
        return self.var_dir / "staging"

    @property
    def staging_url(self) -> str:
        return self.staging_base or str(self.staging_dir)

    @property
    def data_docs_dir(self) -> Path:
        return self.var_dir / "data_docs"

    @classmethod
    def current(cls) -> Settings:
        """The process's settings: built once per AUDIT_* environment, so every step of a process
        shares one (and a test that changes the environment gets new ones)."""
        return _from_audit_env(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AUDIT_"))))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        var_dir = Path(env.get("AUDIT_VAR_DIR", PROJECT_ROOT / "var"))
        db_url = env.get("AUDIT_DB_URL") or f"sqlite:///{var_dir / 'audit.db'}"
        to = tuple(a.strip() for a in env.get("AUDIT_EMAIL_TO", "billing-audit@example.org").split(",") if a.strip())
        try:
            return cls._read(env, var_dir, db_url, to)
        except ConfigurationError:
            raise
        except ValueError as exc:  # a number or date setting that does not parse: int(), float(), fromisoformat()
            raise ConfigurationError(f"a setting cannot be read ({exc}); see .env.example") from None

    @classmethod
    def _read(cls, env, var_dir: Path, db_url: str, to: tuple[str, ...]) -> Settings:
        return cls(
            inbox=Path(env.get("AUDIT_INBOX", var_dir / "inbox")),
            var_dir=var_dir,
            db_url=db_url,
            email_to=to,
            email_from=env.get("AUDIT_EMAIL_FROM", "claims-audit@example.org"),
            timezone=env.get("AUDIT_TIMEZONE", "UTC"),
            expectations_dir=Path(env.get("AUDIT_EXPECTATIONS_DIR", EXPECTATIONS_DIR)),
            airflow_base_url=env.get("AUDIT_AIRFLOW_BASE_URL", "").rstrip("/"),
            send_all_clear=env.get("AUDIT_SEND_ALL_CLEAR", "true").lower() not in ("0", "false", "no"),
            rule_part_lines=int(_renamed(env, "AUDIT_RULE_PART_LINES", "AUDIT_RULE_BATCH_LINES", 200_000)),
            rule_tasks=int(env.get("AUDIT_RULE_TASKS", 2)),
            delivery_days=parse_weekdays(env.get("AUDIT_DELIVERY_DAYS", "mon-fri")),
            holidays=parse_holidays(env.get("AUDIT_HOLIDAYS", "")),
            low_volume_ratio=float(env.get("AUDIT_LOW_VOLUME_RATIO", 0.5)),
            volume_window=int(env.get("AUDIT_VOLUME_WINDOW", 20)),
            email_detail=_choice("AUDIT_EMAIL_DETAIL", env.get("AUDIT_EMAIL_DETAIL", "worklist"),
                                 ("worklist", "summary")),
            digest_max_claims=int(env.get("AUDIT_DIGEST_MAX_CLAIMS", 15)),
            finding_url_pattern=_finding_pattern(env.get("AUDIT_FINDING_URL_PATTERN", "")),
            rule_catalogue_url=env.get("AUDIT_RULE_CATALOGUE_URL", ""),
            data_docs_url=env.get("AUDIT_DATA_DOCS_URL", "").rstrip("/"),
            range_daily_digests=env.get("AUDIT_RANGE_DAILY_DIGESTS", "false").lower() in ("1", "true", "yes"),
            staging_base=env.get("AUDIT_STAGING_URL", "").strip(),
            keep_all_claims=env.get("AUDIT_KEEP_ALL_CLAIMS", "false").lower() in ("1", "true", "yes"),
        )


@functools.lru_cache(maxsize=8)
def _from_audit_env(items: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env(dict(items))


def _renamed(env, name: str, old_name: str, default):
    """A setting's value under its name, else under the name it had before (sites set that one);
    empty counts as unset (docker-compose passes both names, one of them empty)."""
    return env.get(name) or env.get(old_name) or default


DEFAULT_FINDING_URL_PATTERN = "{base_url}/claims-audit/findings/{finding_id}"


def _finding_pattern(value: str) -> str:
    """Empty: the findings view's default route; ``none``: no link to findings."""
    value = value.strip()
    if value.lower() == "none":
        return ""
    return value or DEFAULT_FINDING_URL_PATTERN


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise ConfigurationError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def parse_weekdays(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon,wed,fri``, ``mon-sat`` or ``none`` -> weekday numbers (0 = Monday)."""
    text = text.strip().lower()
    if text in ("", "none"):
        return frozenset()
    days: set[int] = set()
    for part in text.split(","):
        ends = [p.strip()[:3] for p in part.split("-")]
        if any(e not in WEEKDAYS for e in ends) or len(ends) > 2:
            raise ConfigurationError(f"AUDIT_DELIVERY_DAYS: cannot read {part!r} (use e.g. mon-fri or mon,wed,fri)")
        a, b = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def parse_holidays(text: str) -> frozenset[date]:
    """Comma/space separated ISO dates, or the path of a file of them (one a line, # comments)."""
    text = text.strip()
    if text and "\n" not in text and Path(text).is_file():
        text = Path(text).read_text()
    items = [w for line in text.splitlines() for w in line.split("#")[0].replace(",", " ").split()]
    return frozenset(date.fromisoformat(w) for w in items)
