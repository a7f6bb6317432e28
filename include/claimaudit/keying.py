"""The secret behind ``patient_key``: where it comes from and how the store recognises it.

A patient key is an HMAC, so a patient list cannot be hashed into keys without this secret
(an unkeyed hash of member id, name and birth date can). The secret never enters the report DB:

1. ``AUDIT_PATIENT_KEY_SECRET`` (production: from a secrets manager, the same on every worker);
2. else the file ``AUDIT_PATIENT_KEY_FILE`` (default ``<AUDIT_VAR_DIR>/secrets/patient-key``),
   created with 256 random bits on first use, readable by its owner only.

The store keeps only a fingerprint (an HMAC of a fixed label) so a run with a different secret
is refused instead of silently starting a second, unlinked key space. Rotation: docs/architecture.md.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from hashlib import sha256
from pathlib import Path

from claimaudit.errors import ConfigurationError

SECRET_ENV = "AUDIT_PATIENT_KEY_SECRET"
SECRET_FILE_ENV = "AUDIT_PATIENT_KEY_FILE"
_MIN_SECRET_BYTES = 16
_FINGERPRINT_LABEL = b"claimaudit patient-key fingerprint v1"


def default_secret_file(env: dict[str, str] | None = None) -> Path:
    from claimaudit.settings import Settings

    env = os.environ if env is None else env
    if env.get(SECRET_FILE_ENV):
        return Path(env[SECRET_FILE_ENV])
    return Settings.from_env(env).var_dir / "secrets" / "patient-key"


_override: list[bytes] = []  # secret_in_force(): the re-key puts the new secret here


def patient_key_secret() -> bytes:
    """The secret in force for this process (read once per source)."""
    if _override:
        return _override[-1]
    value = os.environ.get(SECRET_ENV, "")
    if value:
        return _checked(value.encode("utf-8"), SECRET_ENV)
    return _secret_from_file(str(default_secret_file()))


@lru_cache(maxsize=4)
def _secret_from_file(path: str) -> bytes:
    file = Path(path)
    if not file.exists():
        _create_secret_file(file)
    return _checked(file.read_bytes().strip(), str(file))


def _create_secret_file(file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two workers starting at once agree on one secret (the loser reads the winner's).
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def _checked(secret: bytes, source: str) -> bytes:
    if len(secret) < _MIN_SECRET_BYTES:
        raise ConfigurationError(f"the patient-key secret from {source} is shorter than {_MIN_SECRET_BYTES} bytes")
    return secret


def keyed_hasher(secret: bytes | None = None):
    """An HMAC-SHA256 primed with the secret; ``.copy()`` it per key (cheaper than re-keying)."""
    return hmac.new(secret if secret is not None else patient_key_secret(), digestmod=sha256)


def fingerprint(secret: bytes | None = None) -> str:
    """Names the secret in the store without revealing it."""
    h = keyed_hasher(secret)
    h.update(_FINGERPRINT_LABEL)
    return h.hexdigest()[:16]


@contextmanager
def secret_in_force(secret: bytes) -> Iterator[None]:
    """Key with ``secret`` inside the block: re-keying the history reads its files with it."""
    _override.append(_checked(secret, "the re-key"))
    try:
        yield
    finally:
        _override.pop()


def reset_cache() -> None:
    """Forget file secrets read so far (tests that switch ``AUDIT_PATIENT_KEY_FILE``)."""
    _secret_from_file.cache_clear()
