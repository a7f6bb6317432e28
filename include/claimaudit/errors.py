"""The package's error root: the CLI turns any ``ClaimAuditError`` into a one-line message."""

from __future__ import annotations


class ClaimAuditError(Exception):
    """A problem the user can act on (not a bug): bad configuration, inconsistent state."""


class ConfigurationError(ClaimAuditError):
    """A setting or secret is missing, malformed, or disagrees with the report DB."""
