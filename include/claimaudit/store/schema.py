"""Report-store tables (SQLAlchemy Core). Alembic migrations create them; tests may use
``metadata.create_all`` directly.

``audit_finding`` is read by users' BI tools: its column names are a contract. Never rename.
"""

from __future__ import annotations

from sqlalchemy import (

    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

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
    # Set when a later replacement (7) or void (8) supersedes this claim.
    Column("superseded_by", String(40)),
)
Index("ix_claim_received", claim.c.received_date)
Index("ix_claim_patient", claim.c.patient_key)
Index("ix_claim_lineage", claim.c.billing_npi, claim.c.claim_id)

service_line = Table(
    "service_line",
    metadata,
    Column("claim_key", String(40), ForeignKey("claim.claim_key", ondelete="CASCADE"), primary_key=True),
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
    Column("claim_key", String(40), ForeignKey("claim.claim_key", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("claim_id", String(38), nullable=False),
    Column("qualifier", String(3), nullable=False),
    Column("code", String(30), nullable=False),
)

# Files and transaction sets that could not be read, per audited day.
rejection = Table(
    "rejection",
    metadata,
    Column("rejection_id", Integer, primary_key=True, autoincrement=True),
    Column("audit_date", Date, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
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
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("email_sent_at", DateTime(timezone=True)),
)

audit_finding = Table(
    "audit_finding",
    metadata,
    # Deterministic: hash of (rule_id, claim_key, line_number), so reruns keep the id.
    Column("finding_id", String(40), primary_key=True),
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
    UniqueConstraint("rule_id", "claim_key", "line_number", name="uq_finding_rule_claim_line"),
)
Index("ix_finding_day", audit_finding.c.audit_date)
Index("ix_finding_claim", audit_finding.c.claim_key)

FINDING_CONTRACT_COLUMNS = (
    "finding_id", "run_id", "audit_date", "rule_id", "severity", "claim_id", "line_number",
    "date_of_service", "procedure_code", "modifiers", "message", "source_file", "interchange_control",
    "billing_npi", "payer_class", "ruleset_version", "first_seen_at", "status",
)

__all__ = [
    "metadata", "ingested_file", "interchange", "claim", "service_line", "diagnosis", "rejection",
    "audit_run", "audit_finding", "FINDING_CONTRACT_COLUMNS",
]
