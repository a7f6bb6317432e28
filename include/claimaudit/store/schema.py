"""Report-store tables (SQLAlchemy Core). Alembic migrations create them; tests may use
``metadata.create_all`` directly.

``audit_finding`` is read by users' BI tools: its column names are a contract. Never rename.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    PrimaryKeyConstraint,
)

from claimaudit.store.metadata import metadata

# One row per file received (by content hash): the same bytes delivered twice are read once.
ingested_file = Table(
    "ingested_file",
    metadata,
    Column("file_sha256", String(64), primary_key=True),
    Column("source_file", Text, nullable=False),
    Column("received_date", Date, nullable=False),  # the inbox day the file arrived in
    Column("size_bytes", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # loaded | partial | rejected | duplicate
    Column("claims", Integer, nullable=False, default=0),
    Column("lines", Integer, nullable=False, default=0),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    # issue 18: what the file held; claims/lines above are what was kept (radiation oncology).
    # No Python-side default: an INSERT that does not name them (an older writer) gets the server's 0.
    Column("claims_read", Integer, nullable=False, server_default="0"),
    Column("lines_read", Integer, nullable=False, server_default="0"),
)

# One row per ISA interchange: (sender, ISA13) delivered twice is audited once.
interchange = Table(
    "interchange",
    metadata,
    Column("sender_id", String(15), primary_key=True),
    Column("interchange_control", String(9), primary_key=True),
    Column("file_sha256", String(64), nullable=False),
    Column("source_file", Text, nullable=False),
    Column("received_date", Date, nullable=False),
    Column("interchange_date", Date),
)

claim = Table(
    "claim",
    metadata,
    Column("claim_key", String(40), primary_key=True),
    Column("claim_id", String(38), nullable=False),
    Column("received_date", Date, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("interchange_control", String(9), nullable=False),
    Column("sender_id", String(15), nullable=False),
    Column("group_control", String(9), nullable=False),
    Column("transaction_control", String(9), nullable=False),
    Column("transaction_type", String(1), nullable=False),
    Column("patient_key", String(32), nullable=False),
    Column("payer_id", String(80), nullable=False),
    Column("payer_class", String(3), nullable=False),
    Column("billing_npi", String(10), nullable=False),
    Column("rendering_npi", String(10), nullable=False),
    Column("total_charge", Float),
    Column("facility_code", String(2), nullable=False),
    Column("facility_qualifier", String(1), nullable=False),
    Column("frequency_code", String(1), nullable=False),
    Column("original_claim_ref", String(50), nullable=False),
    Column("statement_from", Date),
    Column("statement_to", Date),
    Column("claim_service_date", Date),
    Column("line_count", Integer, nullable=False),
    # Lineage per docs/architecture.md: (billing_npi, original_claim_ref or claim_id).
    Column("lineage_ref", String(50), nullable=False),
    Column("interchange_date", Date),  # ISA09: second ordering key of a lineage's versions
    Column("load_seq", BigInteger, nullable=False),  # load order: last ordering key
    # Set when a later replacement (7) or void (8) supersedes this claim: the lineage's current version.
    Column("superseded_by", String(40)),
)
Index("ix_claim_received", claim.c.received_date)
Index("ix_claim_patient", claim.c.patient_key)
Index("ix_claim_lineage", claim.c.billing_npi, claim.c.lineage_ref)
Index("ix_claim_file", claim.c.file_sha256)

service_line = Table(
    "service_line",
    metadata,
    Column("claim_key", String(40), primary_key=True),  # a claim's key (no FK: migration 0002)
    Column("line_number", Integer, primary_key=True),
    Column("claim_id", String(38), nullable=False),
    Column("patient_key", String(32), nullable=False),  # copied from the claim: views index on it
    Column("received_date", Date, nullable=False),
    Column("procedure_code", String(48), nullable=False),
    Column("modifiers", String(16), nullable=False),
    Column("charge", Float),
    Column("units", Float),
    Column("unit_basis", String(2), nullable=False),
    Column("place_of_service", String(2), nullable=False),
    Column("revenue_code", String(48), nullable=False),
    Column("dx_pointers", String(16), nullable=False),
    Column("date_of_service", Date),
    Column("dos_raw", String(35), nullable=False),
    Column("rendering_npi", String(10), nullable=False),
)
Index("ix_line_patient_dos", service_line.c.patient_key, service_line.c.date_of_service)
Index("ix_line_received", service_line.c.received_date)

diagnosis = Table(
    "diagnosis",
    metadata,
    Column("claim_key", String(40), primary_key=True),  # a claim's key (no FK: migration 0002)
    Column("position", Integer, primary_key=True),
    Column("claim_id", String(38), nullable=False),
    Column("qualifier", String(3), nullable=False),
    Column("code", String(30), nullable=False),
)

# Files and transaction sets that could not be read, per audited day. The key is deterministic
# (day, file, order in the file) so a rerun rewrites identical rows.
rejection = Table(
    "rejection",
    metadata,
    Column("audit_date", Date, primary_key=True),
    Column("file_sha256", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("source_file", Text, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("interchange_control", String(9), nullable=False),
    Column("transaction_control", String(9), nullable=False),
    Column("segment_position", Integer),
    Column("segment_id", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("quarantine_path", Text, nullable=False),
)
Index("ix_rejection_day", rejection.c.audit_date)

# One row per audited day; a rerun replaces it.
audit_run = Table(
    "audit_run",
    metadata,
    Column("audit_date", Date, primary_key=True),
    Column("run_id", String(250), nullable=False),
    Column("ruleset_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | complete
    Column("files", Integer, nullable=False, default=0),
    Column("claims", Integer, nullable=False, default=0),
    Column("lines", Integer, nullable=False, default=0),
    Column("findings", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("warnings", Integer, nullable=False, default=0),
    Column("rejections", Integer, nullable=False, default=0),
    Column("new_findings", Integer, nullable=False, default=0),
    Column("resolved", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("email_sent_at", DateTime(timezone=True)),
    # Inbox entries not audited (sub-folders, hidden/temporary files): listed in ignored_entry.
    Column("ignored", Integer, nullable=False, default=0, server_default="0"),
    # The digest's delivery, tracked apart from the findings: a run whose findings are committed
    # but whose digest could not be written or sent still owes it, and a rerun delivers it.
    Column("delivered_at", DateTime(timezone=True)),
    Column("delivered_to", Text),  # "smtp:<recipients>", the .eml path, or "none: <why>"
    # NCCI edit sets (issue 13, migration 0003): labels of the versions the run used, and the
    # audited lines no edit set covered ("unchecked" is not "passed"): total and JSON by quarter.
    Column("ncci_edit_sets", Text),
    Column("ncci_unchecked_lines", Integer),
    Column("ncci_unchecked", Text),
    # issue 18: claims and lines of the day's files as read; claims/lines above are those audited.
    Column("claims_read", Integer, nullable=False, server_default="0"),
    Column("lines_read", Integer, nullable=False, server_default="0"),
)

# Entries of a day's inbox folder that were not audited, and why (nothing is skipped silently).
ignored_entry = Table(
    "ignored_entry",
    metadata,
    Column("audit_date", Date, primary_key=True),
    Column("name", Text, primary_key=True),  # escaped (safe_text.escape)
    Column("kind", String(16), nullable=False),  # file | folder
    Column("reason", Text, nullable=False),
)

# One row per finding per audited day: a day's rerun replaces exactly its own rows, and the same
# finding seen on several days keeps one finding_id (and its first_seen_at) across them.
audit_finding = Table(
    "audit_finding",
    metadata,
    # Deterministic: hash of (rule_id, claim_key, line_number), so reruns keep the id.
    Column("finding_id", String(40), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("audit_date", Date, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("claim_id", String(38), nullable=False),
    Column("line_number", Integer),  # None for claim-scope findings
    Column("date_of_service", Date),
    Column("procedure_code", String(48), nullable=False),
    Column("modifiers", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("interchange_control", String(9), nullable=False),
    Column("billing_npi", String(10), nullable=False),
    Column("payer_class", String(3), nullable=False),
    Column("ruleset_version", String(64), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("status", String(10), nullable=False),  # open | resolved
    Column("claim_key", String(40), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("ncci_edit_set", Text),  # NCCI edit-set version(s) a NCCI-* finding used (migration 0003)
    PrimaryKeyConstraint("audit_date", "finding_id", name="pk_audit_finding"),
)
Index("ix_finding_id", audit_finding.c.finding_id)
Index("ix_finding_claim", audit_finding.c.claim_key)
Index("ix_finding_open", audit_finding.c.status, audit_finding.c.audit_date)

# Facts about the store itself (name -> value), e.g. the fingerprint of the patient-key secret
# the history is keyed with. Never the secret.
store_setting = Table(
    "store_setting",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Lookups the findings browser (claimaudit.review) filters on; day ranges use the primary key.
Index("ix_finding_claim_id", audit_finding.c.claim_id)
Index("ix_finding_rule_day", audit_finding.c.rule_id, audit_finding.c.audit_date)
# "is there a later row of this finding": the list shows each finding once, at its latest day.
Index("ix_finding_id_day", audit_finding.c.finding_id, audit_finding.c.audit_date)

# Review actions on findings (migration 0003): append-only, one row per action with who, when
# and why. Keyed by finding_id, which is stable while rule, claim and line are unchanged, so a
# rerun or backfill keeps the review; a replacement claim has a new claim_key, hence new ids.
finding_review = Table(
    "finding_review",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", String(40), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("claim_key", String(40), nullable=False),
    Column("action", String(16), nullable=False),  # acknowledge | suppress | reopen
    Column("status", String(16), nullable=False),  # the review status the action leads to
    Column("reason", String(32)),  # suppress: false_positive | payer_exception | corrected_outside_claim
    Column("note", Text, nullable=False, default=""),
    Column("actor", String(250), nullable=False),  # the Airflow user name
    Column("acted_at", DateTime(timezone=True), nullable=False),
)
Index("ix_review_finding", finding_review.c.finding_id, finding_review.c.review_id)

# The latest review status per finding, written in the same transaction as its finding_review row:
# lets the browser filter 100,000 findings by status with one indexed join instead of a max() per id.
finding_review_state = Table(
    "finding_review_state",
    metadata,
    Column("finding_id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("review_id", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_review_state_status", finding_review_state.c.status)

FINDING_CONTRACT_COLUMNS = (
    "finding_id", "run_id", "audit_date", "rule_id", "severity", "claim_id", "line_number",
    "date_of_service", "procedure_code", "modifiers", "message", "source_file", "interchange_control",
    "billing_npi", "payer_class", "ruleset_version", "first_seen_at", "status",
)

# The NCCI edit-set tables (issue 13) live with their importer; imported here so that
# ``metadata`` (create_all, the migration check) holds every table of the report store. They take
# ``metadata`` from claimaudit.store.metadata, so this import runs one way only.
from claimaudit.ncci import tables as _ncci_tables  # noqa: E402,F401

__all__ = [
    "metadata", "ingested_file", "interchange", "claim", "service_line", "diagnosis", "rejection",
    "audit_run", "ignored_entry", "audit_finding", "store_setting", "finding_review", "finding_review_state",
    "FINDING_CONTRACT_COLUMNS",
]
