"""Where things live, read from the environment with embedded defaults.

Everything defaults to folders inside the project so the demo needs no configuration:
inbox ``var/inbox``, report DB ``sqlite:///var/audit.db``, outbox ``var/outbox``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    # History lines per rule batch: bounds a run_rules task's memory (about 900 MiB at 200k
    # lines, Great Expectations included) and lets a month onboarded at once be audited by
    # several workers side by side.
    rule_batch_lines: int = 200_000
    # run_rules tasks a large day is shared out over: as many as workers can run side by side.
    # Each imports Great Expectations once and audits its parts one after the other.
    rule_tasks: int = 2
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
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        var_dir = Path(env.get("AUDIT_VAR_DIR", PROJECT_ROOT / "var"))
        db_url = env.get("AUDIT_DB_URL") or f"sqlite:///{var_dir / 'audit.db'}"
        to = tuple(a.strip() for a in env.get("AUDIT_EMAIL_TO", "billing-audit@example.org").split(",") if a.strip())
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
            rule_batch_lines=int(env.get("AUDIT_RULE_BATCH_LINES", 200_000)),
            rule_tasks=int(env.get("AUDIT_RULE_TASKS", 2)),
            staging_base=env.get("AUDIT_STAGING_URL", "").strip(),
            keep_all_claims=env.get("AUDIT_KEEP_ALL_CLAIMS", "false").lower() in ("1", "true", "yes"),
        )
