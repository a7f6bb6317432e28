"""Untrusted text (file names, values from a file) made safe to record and to log.

A file name is any byte string the file system allows: not valid UTF-8 (Python hands it over
with surrogate escapes, which no database driver can encode), or holding CR/LF that would write
forged lines into a log. ``escape`` turns it into one printable line: undecodable bytes become
``\\xNN``, control and bidirectional-override characters become ``\\r``, ``\\n``, ``\\xNN`` or
``\\uNNNN``. Ordinary names (the normal case) come back unchanged.
"""

from __future__ import annotations

import os
import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings/overrides/isolates,
# and the surrogates Python uses for undecodable bytes.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")


def _one(m: re.Match) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """One printable line for a log or a report column; unchanged when already safe."""
    return _UNSAFE.sub(_one, text) if _UNSAFE.search(text) else text


def file_name(path: str | os.PathLike) -> str:
    """The name a received file is recorded under: its base name, escaped."""
    return escape(os.path.basename(os.fspath(path)))


# Paths travel between Airflow tasks as JSON (XCom), which cannot carry undecodable bytes. Such a
# path is sent as its bytes, percent-encoded, after this prefix; other paths go as they are.
_BYTES_PREFIX = "fsbytes:"


def path_token(path: str | os.PathLike) -> str:
    """``path`` as a JSON-safe string that ``token_path`` turns back into the same path."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        if not text.startswith(_BYTES_PREFIX):
            return text
    except UnicodeEncodeError:
        pass
    from urllib.parse import quote_from_bytes

    return _BYTES_PREFIX + quote_from_bytes(os.fsencode(text), safe="/")


def token_path(token: str) -> str:
    if not token.startswith(_BYTES_PREFIX):
        return token
    from urllib.parse import unquote_to_bytes

    return os.fsdecode(unquote_to_bytes(token[len(_BYTES_PREFIX):]))
