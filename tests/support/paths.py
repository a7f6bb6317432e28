"""Where tests find things outside tests/: the project root, and ``../shared`` beside it (the rule
catalogue and public X12 samples, as laid out for developers and CI). Always relative to this
checkout, never an absolute path, so a clone anywhere (or a worktree) finds its own."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = PROJECT_ROOT.parent / "shared"
RULE_CATALOGUE_MD = SHARED / "rules" / "77386-rules.md"
