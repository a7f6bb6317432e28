"""Deterministic daily 837 extracts of a radiation-oncology service line, with planted problems.

``generate(inbox, start, end)`` writes ``<inbox>/<YYYY-MM-DD>/<file>`` for each business day
(weekends and holidays have no files) and ``<inbox>/manifest.json``: the files of each day with
their claim and line counts, the findings the audit must produce (``planted``), findings a later
replacement claim fixes (``resolved``) and the clean-but-tricky cases that must produce none.
Same arguments, same bytes: every random draw comes from generators seeded by ``seed``.

Three senders: a hospital's 837I facility claims, its physician group's 837P professional
claims (POS 22) and a freestanding centre's 837P global claims (POS 11). See courses.py for the
clean background and plants.py for the planted stories. Each file also carries other departments'
claims (visits, labs, imaging, chemotherapy; departments.py) so that radiation oncology is at most
``radonc_share`` of its claims, as in a real daily extract.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from claimaudit.samples.calendar import BusinessDays
from claimaudit.samples.catalog import FREESTANDING, HOSPITAL, PHYSICIANS, Biller
from claimaudit.samples.claims import Draft
from claimaudit.samples.courses import Background
from claimaudit.samples.departments import other_claims, others_for, radonc_share
from claimaudit.samples.plants import INTERRUPTED_BATCH, Story, stories
from claimaudit.samples.x12_writer import Interchange, render_837

DEFAULT_PATIENTS_PER_DAY = 16
MAX_CLAIMS_PER_FILE = 2500  # clearinghouses split large batches; the 837 guide allows 5000 per ST
RECEIVER = "AUDITRECEIVER"
BILLER_ORDER = (HOSPITAL, PHYSICIANS, FREESTANDING)
# The identical file delivered twice: (biller, business day it was first sent, day it comes again).
REDELIVERY = (FREESTANDING, 3, 8)


@dataclass
class FileEntry:
    path: str  # relative to the inbox: "2025-06-03/RADONC_837P_20250603_0001.x12"
    kind: str  # "837P" | "837I"
    sender: str
    interchange_control: str  # ISA13
    claims: int  # claims the parser must return for this file
    lines: int
    sha256: str
    status: str = "ok"  # ok | duplicate (same bytes as an earlier file) | malformed (must be rejected)
    note: str = ""
    radonc_claims: int = 0  # of ``claims``, the radiation-oncology ones (the rest: other departments)


@dataclass
class Manifest:
    start: str
    end: str
    seed: int
    patients_per_day: int
    radonc_share: float = 1.0  # at most this share of each file's claims is radiation oncology
    days: dict[str, dict] = field(default_factory=dict)  # day -> {"files": [FileEntry], "claims", "lines"}
    planted: list[dict] = field(default_factory=list)  # findings open at the end of the window
    resolved: list[dict] = field(default_factory=list)  # findings a later replacement fixes
    clean_cases: list[dict] = field(default_factory=list)
    skipped_stories: list[str] = field(default_factory=list)  # did not fit in the window
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, list[FileEntry]]:
        """day -> the files written into that day's folder."""
        return {day: info["files"] for day, info in self.days.items()}

    def all_files(self) -> list[FileEntry]:
        return [f for info in self.days.values() for f in info["files"]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


def generate(inbox: Path, start: date, end: date, *, seed: int = 7, patients_per_day: int | None = None,
             plant: bool = True, radonc_share: float | None = None) -> Manifest:
    """Write the extracts of business days ``start``..``end`` into ``inbox`` and return the manifest.
    ``radonc_share``: most radiation-oncology claims per file (default $AUDIT_SAMPLE_RADONC_SHARE or
    0.3; 1 = radiation oncology only)."""
    inbox = Path(inbox)
    census = DEFAULT_PATIENTS_PER_DAY if patients_per_day is None else patients_per_day
    share = _radonc_share(radonc_share)
    manifest = Manifest(start.isoformat(), end.isoformat(), seed, census, share)
    bd = BusinessDays(start)
    last_k = bd.index_of(end) if bd[0] <= end else -1
    background = Background(random.Random(f"background-{seed}"), bd, last_k, census)

    kept: list[Story] = []
    planted_by_day: dict[int, list[Draft]] = {}
    if plant:
        for story in stories(bd, random.Random(f"plants-{seed}")):
            if all(bd[0] <= d.received <= bd[max(last_k, 0)] for d in story.drafts) and last_k >= 0:
                kept.append(story)
                for d in story.drafts:
                    planted_by_day.setdefault(bd.index_of(d.received), []).append(d)
            else:
                manifest.skipped_stories.append(story.name)

    sent: dict[tuple[str, int], list[FileEntry]] = {}  # (biller, k) -> files, for the redelivery
    for k in range(last_k + 1):
        day = bd[k]
        entries = _write_day(inbox, day, background.drafts(k) + planted_by_day.pop(k, []), share,
                             random.Random(f"others-{seed}-{day.isoformat()}"))
        for e in entries:
            sent.setdefault((e.sender, k), []).append(e)
        biller, first_k, again_k = REDELIVERY
        if plant and k == again_k and sent.get((biller.sender, first_k)):
            original = sent[(biller.sender, first_k)][0]
            data = (inbox / original.path).read_bytes()
            again = _store(inbox, day, Path(original.path).name, data)
            entries.append(FileEntry(again, original.kind, original.sender, original.interchange_control,
                                     original.claims, original.lines, original.sha256, "duplicate",
                                     f"the same bytes as {original.path}: audit once", original.radonc_claims))
        ok = [e for e in entries if e.status == "ok"]
        manifest.days[day.isoformat()] = {"files": entries, "claims": sum(e.claims for e in ok),
                                          "lines": sum(e.lines for e in ok)}

    for story in kept:
        for x in story.expects:
            entry = _expected(x.rule_id, x.draft, x.line_number, x.what, story.name)
            if x.resolved_by is not None:
                entry.update(resolved_on=x.resolved_by.received.isoformat(), resolved_by=x.resolved_by.claim.claim_id)
                manifest.resolved.append(entry)
            else:
                manifest.planted.append(entry)
        for what, drafts in story.clean:
            manifest.clean_cases.append({"what": what, "story": story.name, "claims": [
                {"claim_id": d.claim.claim_id, "received": d.received.isoformat(),
                 "frequency_code": d.claim.frequency_code} for d in drafts]})
    manifest.planted.sort(key=lambda e: (e["audit_date"], e["rule_id"], e["claim_id"], e["line_number"] or 0))
    files = manifest.all_files()
    manifest.totals = {"files": len(files), "claims": sum(d["claims"] for d in manifest.days.values()),
                       "lines": sum(d["lines"] for d in manifest.days.values()),
                       "malformed_files": sum(f.status == "malformed" for f in files),
                       "duplicate_files": sum(f.status == "duplicate" for f in files)}
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "manifest.json").write_text(manifest.to_json())
    return manifest


def _expected(rule_id: str, d: Draft, line_number: int | None, what: str, story: str) -> dict:
    line = d.claim.lines[line_number - 1] if line_number else None
    return {
        "rule_id": rule_id,
        "claim_id": d.claim.claim_id,
        "line_number": line_number,
        "audit_date": d.received.isoformat(),
        "what": what,
        "story": story,
        "procedure_code": line.procedure_code if line else "",
        "date_of_service": line.date_of_service.isoformat() if line and line.date_of_service else None,
        "billing_npi": d.claim.billing_npi,
    }


def _radonc_share(value: float | None) -> float:
    return radonc_share(value)


def _write_day(inbox: Path, day: date, drafts: list[Draft], share: float = 1.0,
               rng: random.Random | None = None) -> list[FileEntry]:
    """Group the day's claims into files per biller and batch, mix in other departments' claims,
    assign CLM01s, write the files."""
    groups: dict[tuple[str, int], list[Draft]] = {}
    for d in drafts:
        groups.setdefault((d.biller.key, d.batch), []).append(d)
    entries = []
    rng = rng or random.Random(day.isoformat())
    for biller in BILLER_ORDER:
        file_no, claim_no = 0, 0
        for batch in sorted(b for key, b in groups if key == biller.key):
            group = groups[(biller.key, batch)]
            radonc = {id(d.claim) for d in group}
            # Per file chunk: radiation oncology at most ``share`` of its claims, in shuffled order.
            step = max(1, math.floor(MAX_CLAIMS_PER_FILE * share))
            mixed: list[Draft] = []
            for i in range(0, len(group), step):
                part = group[i:i + step]
                if batch != INTERRUPTED_BATCH:
                    others = other_claims(rng, biller, part, others_for(len(part), share))
                    for o in others:  # keep the radiation-oncology claims' order, interleave the rest
                        part.insert(rng.randrange(len(part) + 1), o)
                mixed += part
            group = mixed
            for i in range(0, len(group), MAX_CLAIMS_PER_FILE):
                chunk = group[i:i + MAX_CLAIMS_PER_FILE]
                for d in chunk:
                    claim_no += 1
                    d.claim.claim_id = f"{biller.claim_prefix}{day:%y%m%d}{claim_no:05d}"
                    if d.replaces is not None:
                        d.claim.original_claim_ref = d.replaces.claim.claim_id
                file_no += 1
                entry = _write_file(inbox, day, biller, file_no, [d.claim for d in chunk],
                                    truncate=batch == INTERRUPTED_BATCH)
                if entry.status == "ok":
                    entry.radonc_claims = sum(id(d.claim) in radonc for d in chunk)
                entries.append(entry)
    return entries


def _write_file(inbox: Path, day: date, biller: Biller, file_no: int, claims: list, truncate: bool) -> FileEntry:
    control = int(f"{day:%y%m%d}{file_no:03d}")
    created = datetime(day.year, day.month, day.day, 1, 30) + timedelta(minutes=file_no)
    data = render_837(Interchange(biller.kind, claims, control=control, sender=biller.sender, receiver=RECEIVER,
                                  created=created))
    name = f"{biller.file_prefix}_837{biller.kind}_{day:%Y%m%d}_{file_no:04d}.x12"
    n_claims, n_lines = len(claims), sum(len(c.lines) for c in claims)
    status, note = "ok", ""
    if truncate:
        # The transfer broke off mid-segment inside the last claim: no SE/GE/IEA. The whole
        # transaction set must be rejected (never half-loaded) and the rest of the day audited.
        data = data[: data.rfind(b"SV1*") + 9]
        status, note, n_claims, n_lines = "malformed", "truncated mid-segment: no SE, GE or IEA", 0, 0
    rel = _store(inbox, day, name, data)
    return FileEntry(rel, f"837{biller.kind}", biller.sender, f"{control:09d}", n_claims, n_lines,
                     hashlib.sha256(data).hexdigest(), status, note)


def _store(inbox: Path, day: date, name: str, data: bytes) -> str:
    folder = inbox / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return f"{day.isoformat()}/{name}"


__all__ = ["generate", "Manifest", "FileEntry", "DEFAULT_PATIENTS_PER_DAY", "MAX_CLAIMS_PER_FILE"]


def main(argv: list[str] | None = None) -> int:
    """Benchmark entry: python -m claimaudit.samples.generator OUT --from D1 --to D2 --patients-per-day N"""
    import argparse
    import resource
    import time

    ap = argparse.ArgumentParser(prog="python -m claimaudit.samples.generator", description=main.__doc__)
    ap.add_argument("inbox", type=Path)
    ap.add_argument("--from", dest="start", type=date.fromisoformat, default=date(2025, 6, 2))
    ap.add_argument("--to", dest="end", type=date.fromisoformat, default=date(2025, 6, 13))
    ap.add_argument("--patients-per-day", type=int, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-plant", action="store_true")
    ap.add_argument("--radonc-share", type=float, default=None,
                    help="most radiation-oncology claims per file (default $AUDIT_SAMPLE_RADONC_SHARE or 0.3)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    m = generate(args.inbox, args.start, args.end, seed=args.seed, patients_per_day=args.patients_per_day,
                 plant=not args.no_plant, radonc_share=args.radonc_share)
    seconds = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{m.totals['files']} files, {m.totals['claims']} claims, {m.totals['lines']} service lines in "
          f"{seconds:.1f} s ({m.totals['lines'] / seconds:,.0f} lines/s), peak RSS {rss_mib:.0f} MiB, "
          f"{len(m.planted)} planted findings -> {args.inbox}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
