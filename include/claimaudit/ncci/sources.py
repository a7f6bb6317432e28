"""What the user points the importer at: zip archives as CMS ships them, folders, or the table
files themselves. Yields (name, bytes, context) for every table file; a damaged or truncated zip
is refused whole."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from claimaudit.ncci.layouts import SHEET_SUFFIXES, TEXT_SUFFIXES, LayoutError

# Files CMS zips carry beside the tables (license, read-me, change notes as PDF): not tables.
_SIDE_FILE_WORDS = ("readme", "read_me", "read me", "license", "licence", "copyright", "disclaimer")


def _is_table_name(name: str) -> bool:
    lower = name.lower().rsplit("/", 1)[-1]
    if lower.startswith((".", "~$", "__macosx")) or "__macosx/" in name.lower():
        return False
    if any(w in lower for w in _SIDE_FILE_WORDS):
        return False
    return lower.endswith(TEXT_SUFFIXES + SHEET_SUFFIXES)


def _from_zip(label: str, data: bytes, context: str, depth: int = 0) -> Iterator[tuple[str, bytes, str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise LayoutError(f"{label}: not a readable zip archive (truncated or damaged: {exc})") from exc
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            member = f"{label}:{info.filename}"
            try:
                payload = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
                raise LayoutError(f"{member}: cannot be read from the archive (truncated or damaged: "
                                  f"{exc})") from exc
            if info.filename.lower().endswith(".zip") and depth < 2:
                yield from _from_zip(member, payload, f"{context} {info.filename}", depth + 1)
            elif _is_table_name(info.filename):
                yield member, payload, f"{context} {info.filename}"


def table_sources(paths: list[str | Path]) -> Iterator[tuple[str, bytes, str]]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise LayoutError(f"{path}: no such file or folder")
        for f in files:
            if f.suffix.lower() == ".zip":
                yield from _from_zip(f.name, f.read_bytes(), f.name)
            elif _is_table_name(f.name):
                yield f.name, f.read_bytes(), f.name
            elif path.is_file():  # named on the command line: say why it is not read
                raise LayoutError(f"{f}: not a zip archive or an NCCI table file (.txt, .csv, .tsv, .xlsx)")
