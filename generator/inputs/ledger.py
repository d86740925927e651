"""The redemption ledger (members/redemptions.csv): read, and appended under a lock."""
from __future__ import annotations

import csv
import fcntl
import io
import os
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

from memberportal.core.codes import Verdict, normalize, verify
from memberportal.core.rules import Msg
from memberportal.errors import InputError, Where, worded
from memberportal.inputs.safe_yaml import decode
from memberportal.layout import LEDGER

LEDGER_FIELDS = ("redeemed_at", "code", "member", "offer", "as_of")


def read_ledger(root: Path) -> list[dict[str, str]]:
    """Every redemption recorded; a broken ledger is an error naming its line."""
    path = root / LEDGER
    if not path.exists():
        return []
    return _parse_ledger(decode(path.read_bytes(), LEDGER))


def _parse_ledger(text: str) -> list[dict[str, str]]:
    rows = []
    reader = csv.DictReader(io.StringIO(text))
    if text and tuple(reader.fieldnames or ()) != LEDGER_FIELDS:
        raise InputError(**worded("error.ledger_header", header=",".join(LEDGER_FIELDS)),
                         where=Where(LEDGER, 1))
    for row in reader:
        if None in row or any(row.get(f) in (None, "") for f in LEDGER_FIELDS):
            raise InputError(**worded("error.ledger_row"), where=Where(LEDGER, reader.line_num))
        rows.append(row)
    return rows


def redeemed_members(root: Path) -> frozenset[str]:
    return frozenset(row["member"] for row in read_ledger(root))


def redeem(root: Path, secret: bytes, text: str, as_of: date, members: dict[int, str],
           offer_ids: dict[int, str], today: date | None = None) -> Verdict:
    """Verify and record a redemption; refuses a second one. Safe between processes.

    The row holds the code's canonical (short) form, whichever form was typed: the old long
    form and the short form of one offer are one redemption.

    A code is checked for expiry on the later of `as_of` and today: a redemption recorded
    for an earlier day (--as-of) does not bring back a code that has expired since.

    The ledger is opened, locked exclusively (flock), re-read under the lock, then appended
    and fsynced, so two concurrent redeems of one code record exactly one.
    """
    path = root / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0)
            raw = f.read()
            existing = decode(raw, LEDGER)
            rows = _parse_ledger(existing)
            done = frozenset(r["member"] for r in rows)
            verdict = verify(secret, text, max(as_of, today or date.today()), members, done,
                             offer_ids.keys())
            if verdict.ok and normalize(verdict.canonical or "") in {
                    normalize(r["code"]) for r in rows}:
                verdict = replace(verdict, state="redeemed", detail=Msg("verdict.redeemed"))
            if not verdict.ok:
                return verdict
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            if not existing:
                writer.writerow(LEDGER_FIELDS)
            stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            writer.writerow((stamp, verdict.canonical or verdict.code, verdict.member_id,
                             offer_ids.get(verdict.offer_slot, str(verdict.offer_slot)),
                             as_of.isoformat()))
            # a last row without its newline (edited by hand) ends before the new one starts
            lead = b"\n" if raw and not raw.endswith((b"\n", b"\r")) else b""
            append_whole(f.fileno(), lead + out.getvalue().encode("utf-8"), len(raw))
            return verdict
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def append_whole(fd: int, data: bytes, size: int) -> None:
    """Append `data` and fsync; on any failure (a full disk) cut the file back to `size`, so
    it never keeps part of a row."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, size)
        os.fsync(fd)
        raise
