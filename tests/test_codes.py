"""Retention codes: valid, mistyped, forged, expired; the ledger redeems exactly once."""
from __future__ import annotations

import multiprocessing
from datetime import date
from pathlib import Path

import pytest
from helpers import PRINT_AS_OF, PRINT_SECRET, print_project
from hypothesis import given
from hypothesis import strategies as st

from memberportal.core import codes
from memberportal.inputs import ledger
from memberportal.inputs.project import load

UNTIL = date(2027, 10, 2)
REFS = {codes.member_ref(PRINT_SECRET, "M0002"): "M0002"}


def code() -> str:
    return codes.make_code(PRINT_SECRET, "M0002", "second-half", UNTIL)


def test_shape_and_valid():
    c = code()
    assert len(c.replace("-", "")) == 16 and c.count("-") == 3
    assert all(len(g) == 4 for g in c.split("-")) and c == c.upper()
    assert c[-1] in codes.ALPHABET      # never one of * ~ $ = U
    v = codes.verify(PRINT_SECRET, c, PRINT_AS_OF, REFS)
    assert v.state == "valid" and v.member_id == "M0002" and v.expires == UNTIL
    # Crockford reading rules: lower case, O for 0, I/L for 1, spaces instead of hyphens
    sloppy = c.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert codes.verify(PRINT_SECRET, sloppy, PRINT_AS_OF, REFS).state == "valid"


def test_transposed_is_mistyped():
    c = code().replace("-", "")
    i = next(i for i in range(0, 14) if c[i] != c[i + 1])
    swapped = c[:i] + c[i + 1] + c[i] + c[i + 2:]
    assert codes.verify(PRINT_SECRET, swapped, PRINT_AS_OF, REFS).state == "mistyped"


@given(st.integers(0, 15), st.integers(1, 31))
def test_any_single_change_is_mistyped(position, shift):
    body = code().replace("-", "")
    changed = codes.ALPHABET[(codes.ALPHABET.index(body[position]) + shift) % 32]
    typo = body[:position] + changed + body[position + 1:]
    assert codes.verify(PRINT_SECRET, typo, PRINT_AS_OF, REFS).state == "mistyped"


def test_changed_with_recomputed_check_is_forged():
    body = code().replace("-", "")[:-1]
    for i in (0, 3, 5, 12):  # offer, expiry, member hint, tag
        c = codes.ALPHABET[(codes.ALPHABET.index(body[i]) + 1) % 32]
        forged = body[:i] + c + body[i + 1:]
        assert codes.verify(PRINT_SECRET, forged + codes.check_symbol(forged), PRINT_AS_OF,
                            REFS).state == "forged"
    other = codes.make_code(b"another-secret-another-secret-00", "M0002", "second-half", UNTIL)
    assert codes.verify(PRINT_SECRET, other, PRINT_AS_OF, REFS).state == "forged"


def test_expired_and_unknown_member():
    assert codes.verify(PRINT_SECRET, code(), date(2027, 10, 3), REFS).state == "expired"
    assert codes.verify(PRINT_SECRET, code(), UNTIL, REFS).state == "valid"   # the last day counts
    assert codes.verify(PRINT_SECRET, code(), PRINT_AS_OF, {}).state == "forged"    # signed, not ours


@pytest.fixture
def brand(tmp_path):
    return print_project(tmp_path / "brand")


def test_redeem_once_and_status_shows_it(brand):
    offers = {codes.offer_slot("second-half"): "second-half"}
    assert ledger.redeem(brand, PRINT_SECRET, code(), PRINT_AS_OF, REFS, offers).state == "valid"
    again = ledger.redeem(brand, PRINT_SECRET, code(), PRINT_AS_OF, REFS, offers)
    assert again.state == "redeemed"
    rows = ledger.read_ledger(brand)
    assert len(rows) == 1 and rows[0]["member"] == "M0002" and rows[0]["offer"] == "second-half"
    project = load(brand)
    assert project.redeemed == frozenset({"M0002"})
    status = project.status(project.member("M0002"), PRINT_AS_OF)
    assert status.offers[0].state == "redeemed"


def _redeem_at(args):
    root, start = args
    start.wait()
    offers = {codes.offer_slot("second-half"): "second-half"}
    return ledger.redeem(Path(root), PRINT_SECRET, code(), PRINT_AS_OF, REFS, offers).state


def test_concurrent_redeems_redeem_exactly_once(brand):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(2) as pool:
            pending = pool.map_async(_redeem_at, [(str(brand), start)] * 2)
            start.set()
            states = sorted(pending.get(timeout=60))
    assert states == ["redeemed", "valid"]
    assert len(ledger.read_ledger(brand)) == 1


def test_broken_ledger_names_the_line(brand):
    (brand / ledger.LEDGER).write_text(",".join(ledger.LEDGER_FIELDS) + "\n2026-11-24,X,M0002\n")
    with pytest.raises(Exception, match="redemptions.csv:2"):
        load(brand)


def test_cli_verify_and_redeem(brand, monkeypatch):
    from click.testing import CliRunner

    from memberportal.cli import cli
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    project = load(brand)
    c = codes.make_code(PRINT_SECRET, "M0002", "second-half",
                        project.status(project.member("M0002"), PRINT_AS_OF).offers[0].valid_until)
    run = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", "2026-11-24", "verify", c])
    assert run.exit_code == 0 and "VALID" in run.output and "李* (M0002)" in run.output
    run = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", "2026-11-24", "redeem", c])
    assert run.exit_code == 0 and "REDEEMED" in run.output
    run = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", "2026-11-24", "redeem", c])
    assert run.exit_code == 1 and "REFUSED" in run.output
    run = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", "2026-11-24", "verify",
                                   c[:-1] + ("0" if c[-1] != "0" else "1")])
    assert run.exit_code == 1 and "MISTYPED" in run.output


@given(st.integers(0, 15 * 5 - 1))
def test_any_flipped_bit_is_forged_when_the_check_symbol_is_recomputed(bit):
    """Someone who knows the format (and so the check symbol) but not the secret: every one of
    the 75 payload bits is covered by the tag, so no flip makes a valid code."""
    body = code().replace("-", "")[:-1]
    i, k = divmod(bit, 5)
    flipped = codes.ALPHABET[codes.ALPHABET.index(body[i]) ^ (1 << k)]
    forged = body[:i] + flipped + body[i + 1:]
    assert codes.verify(PRINT_SECRET, forged + codes.check_symbol(forged), PRINT_AS_OF, REFS).state == \
        "forged"
    old_check = code()[-1]
    assert codes.verify(PRINT_SECRET, forged + old_check, PRINT_AS_OF, REFS).state == "mistyped"
