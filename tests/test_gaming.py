"""What a member could game or staff could trip on: referrals counted twice or claimed twice,
codes for a withdrawn offer or redeemed on an earlier day, per_member, and an edit that keeps
a member file's size and modification time."""
from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from helpers import DAY, PRINT_AS_OF, PRINT_SECRET, member, order, portal_project, print_project

from memberportal.cli import cli
from memberportal.core import codes
from memberportal.errors import ValidationFailed
from memberportal.inputs import ledger
from memberportal.inputs.project import Facts, load, referral_counts
from memberportal.render.messages import say
from memberportal.site.build import run

REFS = {codes.member_ref(PRINT_SECRET, "M0002"): "M0002"}
OFFERS = {codes.offer_slot("second-half"): "second-half"}


def test_a_friend_listed_three_times_counts_once(fixture_project):
    fixture_project.add(member("A", referrals=["B", "B", "B"],
                               orders=[order("OA", "2026-01-02", 3000)]))
    fixture_project.add(member("B", orders=[order("OB", "2026-01-03", 10)]))
    project = load(fixture_project.root)
    s = project.status(project.member("A"), date(2026, 11, 24))
    assert s.ambassador.referrals == 1 and not s.ambassador.eligible
    # the build's count, from the facts kept between builds, agrees
    facts = [Facts("A", "members/A.yml", 1, ("B", "B", "B"), date(2026, 1, 2), ("OA",)),
             Facts("B", "members/B.yml", 1, (), date(2026, 1, 3), ("OB",))]
    assert referral_counts(facts, date(2026, 11, 24)) == {"A": 1}


def test_two_members_claiming_one_friend_is_an_error_naming_both(fixture_project):
    fixture_project.add(member("A", referrals=["C"]))
    fixture_project.add(member("B", referrals=["D", "C"]))
    fixture_project.add(member("C"))
    fixture_project.add(member("D"))
    with pytest.raises(ValidationFailed) as failed:
        load(fixture_project.root)
    [error] = failed.value.errors
    text = str(error)
    assert "members/B.yml" in text and "referrals.1" in text and "member B" in text
    assert "'C' is also claimed by member A (members/A.yml" in text
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(fixture_project.root), "check"])
    assert result.exit_code != 0 and "also claimed by member A" in result.output
    result = CliRunner().invoke(cli, ["--lang", "zh", "-C", str(fixture_project.root), "check"])
    assert result.exit_code != 0 and "也被会员 A" in result.output


def test_a_code_for_an_offer_the_program_no_longer_has_is_not_valid(tmp_path, monkeypatch):
    old = codes.make_code(PRINT_SECRET, "M0002", "summer-2025", date(2027, 10, 2))
    assert codes.verify(PRINT_SECRET, old, PRINT_AS_OF, REFS).state == "valid"  # no offers given
    v = codes.verify(PRINT_SECRET, old, PRINT_AS_OF, REFS, offers=OFFERS.keys())
    assert v.state == "forged" and "no longer has" in say(v.detail, "en")
    assert codes.verify(PRINT_SECRET, old, PRINT_AS_OF, REFS, offers=set()).state == "forged"
    brand = print_project(tmp_path / "brand")
    assert ledger.redeem(brand, PRINT_SECRET, old, PRINT_AS_OF, REFS, OFFERS).state == "forged"
    assert ledger.read_ledger(brand) == []
    # through the commands, after the offer was renamed in tiers.yml
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    current = codes.make_code(PRINT_SECRET, "M0002", "second-half", date(2027, 10, 2))
    program = brand / "members" / "tiers.yml"
    program.write_text(program.read_text(encoding="utf-8").replace(
        "id: second-half", "id: second-half-2027"), encoding="utf-8")
    for command in ("verify", "redeem"):
        result = CliRunner().invoke(cli, ["-C", str(brand), "--as-of", "2026-11-24", "--lang",
                                          "en", command, current])
        assert result.exit_code == 1 and "no longer has" in result.output, result.output
        result = CliRunner().invoke(cli, ["-C", str(brand), "--as-of", "2026-11-24", "--lang",
                                          "zh", command, current])
        assert result.exit_code == 1 and "已不在会员方案中" in result.output, result.output
    assert ledger.read_ledger(brand) == []


@pytest.mark.parametrize("value", [0, 2, 5])
def test_per_member_other_than_one_is_refused_at_validation(tmp_path, value):
    brand = print_project(tmp_path / "brand")
    program = brand / "members" / "tiers.yml"
    program.write_text(program.read_text(encoding="utf-8").replace(
        "per_member: 1", f"per_member: {value}"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-C", str(brand), "check"])
    assert result.exit_code == 1, result.output
    assert "members/tiers.yml" in result.output and "retention_offer.per_member" in result.output


def test_redeem_on_an_earlier_day_does_not_accept_a_code_expired_by_today(tmp_path):
    brand = print_project(tmp_path / "brand")
    until = date(2027, 10, 2)
    c = codes.make_code(PRINT_SECRET, "M0002", "second-half", until)
    earlier = until - timedelta(days=30)
    v = ledger.redeem(brand, PRINT_SECRET, c, earlier, REFS, OFFERS, today=until + timedelta(1))
    assert v.state == "expired" and ledger.read_ledger(brand) == []
    # an as_of later than today is still the day checked
    v = ledger.redeem(brand, PRINT_SECRET, c, until + timedelta(1), REFS, OFFERS, today=earlier)
    assert v.state == "expired"
    assert ledger.redeem(brand, PRINT_SECRET, c, earlier, REFS, OFFERS, today=until).ok


def test_cli_redeem_with_an_earlier_as_of_refuses_a_code_expired_by_the_real_today(
        tmp_path, monkeypatch):
    brand = print_project(tmp_path / "brand")
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    yesterday = date.today() - timedelta(days=1)
    c = codes.make_code(PRINT_SECRET, "M0002", "second-half", yesterday)
    as_of = (yesterday - timedelta(days=10)).isoformat()
    result = CliRunner().invoke(cli, ["-C", str(brand), "--lang", "en", "--as-of", as_of, "redeem", c])
    assert result.exit_code == 1 and "EXPIRED" in result.output, result.output
    assert ledger.read_ledger(brand) == []


def test_an_edit_keeping_size_and_mtime_is_seen(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    run(root, DAY, show_progress=False)
    path = root / "members" / "A001.yml"
    text = path.read_text(encoding="utf-8")
    assert "price: 900" in text
    before = os.stat(path)
    # cp -p / rsync -t / touch -r: same size, same modification time, new content
    path.write_text(text.replace("price: 900", "price: 950"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    project = load(root)
    assert project.member("A001").orders[0].items[0].price == 950
    b = run(root, DAY, show_progress=False)
    assert b.rendered >= 1
    incremental = {p.relative_to(root / "output" / "site"): p.read_bytes()
                   for p in (root / "output" / "site").rglob("*") if p.is_file()}
    clean = tmp_path / "clean"
    portal_project(clean)
    (clean / "members" / "A001.yml").write_bytes(path.read_bytes())
    (clean / ".memberportal").mkdir()
    (clean / ".memberportal" / "secret").write_bytes(
        (root / ".memberportal" / "secret").read_bytes())
    os.chmod(clean / ".memberportal" / "secret", 0o600)
    run(clean, DAY, show_progress=False)
    fresh = {p.relative_to(clean / "output" / "site"): p.read_bytes()
             for p in (clean / "output" / "site").rglob("*") if p.is_file()}
    token_pages = [k for k in fresh if k.parts[0] == "m"]
    assert {k: incremental[k] for k in token_pages} == {k: fresh[k] for k in token_pages}
