"""Report-store tables of the NCCI edit sets (migration 0003_ncci_edit_sets).

An *edit set* is one quarter of one CMS table: PTP or MUE, practitioner (837P) or hospital
outpatient (837I). Importing it again with other bytes (a CMS correction) adds a new version of
the same (kind, table_kind, quarter); the latest version is the one in force. Rows belong to one
version; PTP rows are effective-dated (effective / deletion date), MUE rows hold for the quarter.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Table, Text

from claimaudit.store.metadata import metadata

KINDS = ("ptp", "mue")
TABLE_KINDS = ("practitioner", "hospital")

ncci_edit_set = Table(
    "ncci_edit_set",
    metadata,
    Column("edit_set_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(3), nullable=False),  # ptp | mue
    Column("table_kind", String(12), nullable=False),  # practitioner | hospital
    Column("quarter", String(6), nullable=False),  # 2025Q2
    Column("valid_from", Date, nullable=False),  # first day of the quarter
    Column("valid_to", Date, nullable=False),  # last day of the quarter
    Column("checksum", String(64), nullable=False),  # sha256 over the files' names and sha256s
    Column("files", Text, nullable=False),  # JSON: [{name, sha256, rows}] in import order
    Column("row_count", Integer, nullable=False),
    Column("label", String(80), nullable=False),  # what findings and runs record
    Column("imported_at", DateTime(timezone=True), nullable=False),
)
Index("ix_ncci_edit_set_key", ncci_edit_set.c.kind, ncci_edit_set.c.table_kind, ncci_edit_set.c.quarter)

ncci_ptp = Table(
    "ncci_ptp",
    metadata,
    Column("edit_set_id", Integer, ForeignKey("ncci_edit_set.edit_set_id", ondelete="CASCADE"), nullable=False),
    Column("column1", String(5), nullable=False),
    Column("column2", String(5), nullable=False),
    Column("prior_1996", Boolean, nullable=False),  # "*=in existence prior to 1996"
    Column("effective_date", Date, nullable=False),
    Column("deletion_date", Date),  # None where the file has "*" (no data)
    Column("modifier_indicator", SmallInteger, nullable=False),  # 0 not allowed, 1 allowed, 9 not applicable
    Column("rationale", Text, nullable=False),
)
# Lookups select by edit set and the day's codes in both columns.
Index("ix_ncci_ptp_codes", ncci_ptp.c.edit_set_id, ncci_ptp.c.column1, ncci_ptp.c.column2)

ncci_mue = Table(
    "ncci_mue",
    metadata,
    Column("edit_set_id", Integer, ForeignKey("ncci_edit_set.edit_set_id", ondelete="CASCADE"), nullable=False),
    Column("code", String(5), nullable=False),
    Column("mue_value", Integer, nullable=False),
    Column("mai", SmallInteger, nullable=False),  # 1 line edit, 2 DOS edit: policy, 3 DOS edit: clinical
    Column("mai_text", String(60), nullable=False),
    Column("rationale", Text, nullable=False),
)
Index("ix_ncci_mue_code", ncci_mue.c.edit_set_id, ncci_mue.c.code, unique=True)
