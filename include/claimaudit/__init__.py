"""claimaudit: nightly audit of CPT 77386 claims in X12 837 extracts (no Airflow imports here)."""
