"""What a day's inbox folder holds, sorted into what is audited, ignored and refused.

Nothing is silently skipped: an editor's swap file, a transfer marker or a sub-folder is
*ignored* with its reason (recorded and counted in the run); a symbolic link, FIFO, socket or
device is *refused* (recorded as a rejected file, nothing read or copied): a link to
``/etc/passwd`` must never be parsed, let alone copied to quarantine. A link is followed only
when it resolves to a regular file inside the same inbox.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from claimaudit.safe_text import escape, path_token

# Names starting with these are never claim extracts (dot files, editor swap files, transfer markers).
IGNORED_PREFIXES = (".", "~", "_")


@dataclass(frozen=True)
class Entry:
    name: str  # escaped: safe to record and log
    kind: str  # file | folder | link | fifo | socket | device | other
    reason: str


@dataclass
class InboxDay:
    files: list[str]  # path tokens (safe_text.path_token) of the files to audit, by name
    ignored: list[Entry]
    refused: list[Entry]

    def as_json(self) -> dict:
        return {"files": self.files, "ignored": [asdict(e) for e in self.ignored],
                "refused": [asdict(e) for e in self.refused]}

    @classmethod
    def from_json(cls, data: dict) -> "InboxDay":
        return cls(list(data.get("files", [])), [Entry(**e) for e in data.get("ignored", [])],
                   [Entry(**e) for e in data.get("refused", [])])


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def inside(path: Path, root: Path) -> bool:
    """``path`` resolved (links followed) is ``root`` resolved or below it."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except OSError:
        return False


def check_regular(path: Path, root: Path) -> str:
    """"" when ``path`` is a regular file inside ``root`` (after links), else why it is refused."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        if not inside(path, root):
            return "a symbolic link to somewhere outside the inbox: refused, nothing was read"
        try:
            st = os.stat(path)
        except OSError:
            return "a symbolic link to nothing (dangling): refused"
        if not stat.S_ISREG(st.st_mode):
            return f"a symbolic link to a {_kind(st.st_mode)}, not a regular file: refused"
        return ""
    if not stat.S_ISREG(st.st_mode):
        return f"a {_kind(st.st_mode)}, not a regular file: refused, nothing was read"
    return ""


def scan(folder: Path, inbox: Path) -> InboxDay:
    """Sort the entries of one day's folder (not recursive: a sub-folder is ignored, recorded)."""
    day = InboxDay([], [], [])
    if not folder.is_dir():
        return day
    for entry in sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name)):
        name = escape(entry.name)
        if entry.is_dir(follow_symlinks=False):
            day.ignored.append(Entry(name, "folder", "a sub-folder: only files directly in the day's folder "
                                                     "are audited"))
            continue
        if entry.name.startswith(IGNORED_PREFIXES):
            what = {".": "a hidden file", "~": "an editor or temporary file", "_": "a transfer marker or "
                    "temporary file"}[entry.name[0]]
            day.ignored.append(Entry(name, "file", f"{what} (name starts with {entry.name[0]!r}): not audited"))
            continue
        problem = check_regular(Path(entry.path), inbox)
        if problem:
            kind = "link" if entry.is_symlink() else _kind(os.lstat(entry.path).st_mode)
            day.refused.append(Entry(name, kind, problem))
            continue
        day.files.append(path_token(entry.path))
    return day
