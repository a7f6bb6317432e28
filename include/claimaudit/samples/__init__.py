"""Deterministic sample 837 extracts (no public 837 carries radiation-oncology codes)."""
