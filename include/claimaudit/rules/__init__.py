"""Billing rules as Great Expectations suites over audit views of the claim history."""
