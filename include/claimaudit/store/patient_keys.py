"""The history's patient keys: which secret they were made with, and re-keying them.

Re-keying re-reads each file the history came from (``<inbox>/<received day>/<file name>``,
checked by its sha256) and takes the patient keys the current reader makes: that both re-keys
and re-links (the key no longer depends on the payer id). A claim whose file is gone cannot
be re-derived; its key becomes an HMAC of its old key, so it stays one-way and keeps linking
to the claims that shared its old key, but not to new claims of the same patient.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from sqlalchemy import Connection, bindparam, select, update

from claimaudit import keying
from claimaudit.errors import ConfigurationError
from claimaudit.store.schema import claim, ingested_file, service_line, store_setting

log = logging.getLogger(__name__)

FINGERPRINT = "patient_key_fingerprint"


@dataclass(frozen=True)
class RekeyReport:
    claims_relinked: int  # re-derived from their source file
    claims_keyed_only: int  # source file missing or changed: keyed from the old key
    files_read: int
    files_missing: int


def stored_fingerprint(conn: Connection) -> str | None:
    return conn.execute(select(store_setting.c.value).where(store_setting.c.name == FINGERPRINT)).scalar()


def _set_fingerprint(conn: Connection, value: str) -> None:
    conn.execute(store_setting.delete().where(store_setting.c.name == FINGERPRINT))
    conn.execute(store_setting.insert().values(name=FINGERPRINT, value=value))


def check_secret(conn: Connection, secret: bytes | None = None) -> None:
    """Refuse to add history keyed with another secret than the history already holds.

    The first run records the secret's fingerprint. A changed or lost secret would otherwise
    start a second key space in silence: every course and same-day rule would stop seeing the
    patients' earlier claims.
    """
    current = keying.fingerprint(secret)
    stored = stored_fingerprint(conn)
    if stored is None:
        _set_fingerprint(conn, current)
    elif stored != current:
        raise ConfigurationError(
            "the patient-key secret differs from the one the report DB's history was keyed with "
            f"(fingerprint {current}, store has {stored}): restore {keying.SECRET_ENV} or the key file "
            f"({keying.default_secret_file()}), or re-key the history with `claimaudit rekey-patients`")


def rekey_history(conn: Connection, inbox: Path, secret: bytes | None = None) -> RekeyReport:
    """Re-key every claim and line of the history with ``secret`` (default: the one in force)."""
    from claimaudit.x12.parser import parse_path  # the reader: only needed when re-keying

    secret = secret if secret is not None else keying.patient_key_secret()
    old_keys = dict(conn.execute(select(claim.c.claim_key, claim.c.patient_key)).all())
    derived: dict[str, str] = {}
    files_read = files_missing = 0
    files = conn.execute(select(ingested_file.c.file_sha256, ingested_file.c.source_file,
                                ingested_file.c.received_date).where(ingested_file.c.claims > 0)).all()
    with keying.secret_in_force(secret):  # the reader keys with the secret being re-keyed to
        for sha, name, received in files:
            path = Path(inbox) / received.isoformat() / name
            result = parse_path(path) if path.is_file() else None
            if result is None or result.file_sha256 != sha:
                files_missing += 1
                continue
            files_read += 1
            derived.update((c.claim_key, c.patient_key) for c in result.claims if c.claim_key in old_keys)
    new_keys = {k: derived.get(k) or hmac.new(secret, f"unlinked:{old}".encode(), sha256).hexdigest()[:32]
                for k, old in old_keys.items()}
    rows = [{"ck": k, "pk": v} for k, v in new_keys.items() if v != old_keys[k]]
    for table in (claim, service_line):
        stmt = update(table).where(table.c.claim_key == bindparam("ck")).values(patient_key=bindparam("pk"))
        for start in range(0, len(rows), 5000):
            conn.execute(stmt, rows[start:start + 5000])
    _set_fingerprint(conn, keying.fingerprint(secret))
    report = RekeyReport(claims_relinked=len(derived), claims_keyed_only=len(old_keys) - len(derived),
                         files_read=files_read, files_missing=files_missing)
    if report.claims_keyed_only:
        log.warning("patient keys: %d claim(s) re-keyed from their source files, %d without them (files "
                    "missing or changed: these keep their links among themselves only)",
                    report.claims_relinked, report.claims_keyed_only)
    return report
