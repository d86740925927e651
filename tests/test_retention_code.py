"""The short retention code: its shape, typos caught, old long codes still verify, one redemption."""
from __future__ import annotations

import itertools
import re
import shutil
from datetime import date

import pytest
from helpers import PRINT_AS_OF, PRINT_SECRET, REPO, print_project

from memberportal.core import codes
from memberportal.inputs import ledger

UNTIL = date(2027, 10, 2)
IDS = ["M0001", "M0002", "M0003", "X6", "X8", "X12", "X15", "X23"]
REFS = codes.member_refs(PRINT_SECRET, IDS)
OFFERS = {codes.offer_slot("second-half"): "second-half"}

# Made with make_code as it was before the short form (27 symbols + a mod-37 check symbol that
# may be * ~ $ = U), PRINT_SECRET, offer second-half, until 2027-10-02; printed cards carry these.
LEGACY = {
    "M0001": "S9WR-5D47-1ZCP-0JAP-JJGH-MAVY-QZ6F",
    "M0002": "S9WR-ZV11-CK7D-VZ4G-8JH9-H60D-HTR8",
    "M0003": "S9WR-9KAE-RKVB-KEQR-0C2H-Z7D7-8RFD",
    "X6": "S9WR-PTEC-P83Q-CYNE-KA1F-SBXM-ESW$",
    "X12": "S9WR-AQYZ-PGN3-1G74-HXGF-H9GS-VNJ=",
    "X15": "S9WR-RKG7-APTG-50YR-D1SZ-G96S-9D9U",
}
LEGACY_EXPIRED = "S9J9-ZV11-CK7D-ZPPY-FYKH-XCNP-T8W2"     # M0002's, until 2026-11-01


def short(member_id: str = "M0002") -> str:
    return codes.make_code(PRINT_SECRET, member_id, "second-half", UNTIL)


@pytest.mark.parametrize("member_id", IDS)
def test_short_form_reads_aloud(member_id):
    c = short(member_id)
    groups = c.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert set(c.replace("-", "")) <= set(codes.ALPHABET)
    assert not set(c) & set("ILOU$~*=") and c == c.upper()
    v = codes.verify(PRINT_SECRET, c, PRINT_AS_OF, REFS, offers=OFFERS)
    assert (v.state, v.member_id, v.expires, v.canonical) == ("valid", member_id, UNTIL, c)


def test_case_and_separators_do_not_matter():
    c = short()
    for typed in (c.lower(), c.replace("-", ""), c.replace("-", " ").lower(),
                  f"  {c[:7].lower()} {c[7:]} ", c.replace("-", " - ")):
        v = codes.verify(PRINT_SECRET, typed, PRINT_AS_OF, REFS)
        assert v.state == "valid" and v.member_id == "M0002", typed


def test_every_single_typo_and_every_swap_is_caught_before_the_signature():
    body = short().replace("-", "")
    for i, ch in itertools.product(range(len(body)), codes.ALPHABET):
        if ch != body[i]:
            typo = body[:i] + ch + body[i + 1:]
            assert codes.verify(PRINT_SECRET, typo, PRINT_AS_OF, REFS).state == "mistyped", typo
    for i, j in itertools.combinations(range(len(body)), 2):
        if body[i] != body[j]:
            swapped = list(body)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            v = codes.verify(PRINT_SECRET, "".join(swapped), PRINT_AS_OF, REFS)
            assert v.state == "mistyped", (i, j)
    assert codes.verify(PRINT_SECRET, body[:-1], PRINT_AS_OF, REFS).state == "mistyped"


def test_short_code_of_another_member_or_secret_is_forged():
    assert codes.verify(PRINT_SECRET, short(), PRINT_AS_OF,
                        codes.member_refs(PRINT_SECRET, ["M0001"])).state == "forged"
    other = codes.make_code(b"another-secret-another-secret-00", "M0002", "second-half", UNTIL)
    assert codes.verify(PRINT_SECRET, other, PRINT_AS_OF, REFS).state == "forged"
    assert codes.verify(PRINT_SECRET, short(), date(2027, 10, 3), REFS).state == "expired"


@pytest.mark.parametrize("member_id", sorted(LEGACY))
def test_old_long_codes_still_verify(member_id):
    v = codes.verify(PRINT_SECRET, LEGACY[member_id], PRINT_AS_OF, REFS, offers=OFFERS)
    assert (v.state, v.member_id, v.expires) == ("valid", member_id, UNTIL)
    assert v.canonical == short(member_id)
    sloppy = LEGACY[member_id].lower().replace("-", " ")
    assert codes.verify(PRINT_SECRET, sloppy, PRINT_AS_OF, REFS).state == "valid"
    typo = LEGACY[member_id].replace("-", "")
    typo = typo[:9] + ("0" if typo[9] != "0" else "1") + typo[10:]
    assert codes.verify(PRINT_SECRET, typo, PRINT_AS_OF, REFS).state == "mistyped"
    assert codes.verify(PRINT_SECRET, LEGACY_EXPIRED, PRINT_AS_OF, REFS).state == "expired"


@pytest.fixture
def brand(tmp_path):
    return print_project(tmp_path / "brand")


@pytest.mark.parametrize("first,second", [("legacy", "short"), ("short", "legacy")])
def test_old_and_new_form_of_one_offer_redeem_once(brand, first, second):
    forms = {"legacy": LEGACY["M0002"], "short": short()}
    v = ledger.redeem(brand, PRINT_SECRET, forms[first], PRINT_AS_OF, REFS, OFFERS)
    assert v.state == "valid"
    again = ledger.redeem(brand, PRINT_SECRET, forms[second], PRINT_AS_OF, REFS, OFFERS)
    assert again.state == "redeemed"
    rows = ledger.read_ledger(brand)
    assert [(r["code"], r["member"]) for r in rows] == [(short(), "M0002")]


def _cli(brand, *args):
    from click.testing import CliRunner

    from memberportal.cli import cli
    run = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of",
                                   PRINT_AS_OF.isoformat(), *args])
    assert run.exit_code == 0, run.output
    return run.output


def test_card_qr_opens_her_page_at_the_code(brand, monkeypatch):
    from helpers import pdftotext, qr_codes, raster

    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    shutil.copy(REPO / "mkdocs.yml", brand / "mkdocs.yml")      # the portal's real theme
    _cli(brand, "build", "--no-progress")
    _cli(brand, "cards", "--layout", "single", "--member", "M0002")
    pdf = brand / "output" / "print" / "cards.pdf"
    printed = re.search(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", pdftotext(pdf, 2))[0]
    (url,) = [r.text for r in qr_codes(raster(pdf, 2))]
    site_url = re.search(r"^site_url: *(\S+)$", (REPO / "mkdocs.yml").read_text(), re.M)[1]
    assert url.startswith(site_url.rstrip("/") + "/m/") and "#" in url
    path, anchor = url[len(site_url.rstrip("/")) + 1:].split("#")
    page = (brand / "output" / "site" / path / "index.html").read_text(encoding="utf-8")
    assert "M0002" not in url and "13905710042" not in url      # no id, no phone number
    # the element the URL points at is her coupon, and it shows the code the card prints
    coupon = re.search(rf'<div class="mp-coupon [^"]*" id="{anchor}">(.*?)</section>', page,
                       re.S)
    assert coupon, anchor
    assert printed == re.sub(r"<[^>]+>", "", re.search(
        r'class="mp-coupon__code" translate="no">(.*?)</p>', coupon[1])[1])
    v = codes.verify(PRINT_SECRET, printed, PRINT_AS_OF, REFS, offers=OFFERS)
    assert (v.state, v.member_id) == ("valid", "M0002")
    out = _cli(brand, "verify", printed.lower().replace("-", " "))
    assert "VALID" in out and "(M0002)" in out
