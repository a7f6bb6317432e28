"""The package's errors: problems a user can act on, each named for what to look at.

The CLI turns any ``ClaimAuditError`` into a one-line message and exit status 2; anything else
is a bug and keeps its traceback. Branches that replaced a ``ValueError`` or ``RuntimeError``
also derive from it, so callers written against those still catch them.

    ClaimAuditError
    ├── ConfigurationError     a setting, secret or installed package (settings, keying, staging_store)
    ├── ReferenceDataError     rule data: reference code lists, suites (SuiteError), NCCI files (LayoutError)
    ├── RuleEvaluationError    an expectation that cannot be evaluated over the audit views
    └── PipelineStateError     what a step needs from an earlier one is missing, stale or inconsistent
"""

from __future__ import annotations


class ClaimAuditError(Exception):
    """A problem the user can act on (not a bug): bad configuration, inconsistent state."""


class ConfigurationError(ClaimAuditError, ValueError):
    """A setting or secret is missing, malformed, or disagrees with the report DB; or a package the
    configuration needs is not installed."""


class ReferenceDataError(ClaimAuditError, ValueError):
    """Rule data (expectation suites, reference code lists, imported NCCI tables) is missing or malformed."""


class RuleEvaluationError(ClaimAuditError, RuntimeError):
    """An expectation could not be evaluated (a suite or view bug, not a billing finding)."""


class PipelineStateError(ClaimAuditError):
    """A step's input from an earlier step is missing, stale or inconsistent (staged files, rule
    shares, an audit run): rerun the day, or the step named in the message."""
