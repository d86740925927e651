"""Every kind of bad input gets an error naming file, line, field and member, all in one run."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from helpers import dump, member, order, program

from memberportal.cli import cli
from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load


def line_of(project, rel: str, text: str) -> int:
    """The 1-based line of the first line of file `rel` equal to `text`."""
    return project.root.joinpath(rel).read_text(encoding="utf-8").splitlines().index(text) + 1


def errors_of(project) -> list:
    with pytest.raises(ValidationFailed) as info:
        load(project.root)
    return info.value.errors


def only_error(project):
    errs = errors_of(project)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


def test_yaml_syntax_error_names_file_and_line(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: 王晓梅\norders: [\n  - x\n")
    e = only_error(fixture_project)
    assert e.where.file == "members/a.yml" and e.where.line in (4, 5)
    assert "YAML syntax error" in str(e)
    assert e.member == "M1" and "member M1: YAML syntax error" in str(e)


def test_a_yaml_error_in_a_list_file_names_the_member_whose_entry_holds_the_line(
        fixture_project):
    fixture_project.write("members/shop.yml", "- id: M1\n  name: 李娜\n  orders:\n"
                          "  - id: O1\n    date: 2026-01-02\n- name: 王芳\n  id: M2\n"
                          "  orders:\n  - id: O2\n    date: !!timestamp 2026\n")
    e = only_error(fixture_project)
    assert (e.where.line, e.member, e.field) == (10, "M2", "1.orders.0.date")


def test_a_yaml_error_names_no_member_when_the_text_does_not_say_whose_it_is(fixture_project):
    # No `id:` line of the member's own (only an order's): naming O1 would be wrong.
    fixture_project.write("members/a.yml", "name: 李娜\norders:\n- id: O1\n  date: [\n")
    e = only_error(fixture_project)
    assert e.where.file == "members/a.yml" and e.member is None


def test_duplicate_key_names_both_lines(fixture_project):
    fixture_project.write("members/a.yml", dump(member())[:-1] + "\nname: 李娜\n")
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line) == ("members/a.yml", 5)
    assert "duplicate key 'name' (first at line 2)" in str(e)


def test_unknown_field_suggests_the_right_one(fixture_project):
    fixture_project.add(member(birthdy="1990-01-01"))
    e = only_error(fixture_project)
    assert (e.where.line, e.field, e.member) == (5, "birthdy", "M1")
    assert "unknown field 'birthdy'; did you mean 'birthday'?" in str(e)


def test_unknown_field_in_an_order_item(fixture_project):
    m = member(orders=[order("O1", "2026-01-02", 10)])
    m["orders"][0]["items"][0]["prise"] = 5
    fixture_project.add(m)
    e = only_error(fixture_project)
    assert e.field == "orders.0.items.0.prise" and e.member == "M1"
    assert e.where.line == line_of(fixture_project, "members/M1.yml", "    prise: 5")


def test_phone_as_bare_number(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: 李娜\nphone: 8613800000000\n"
                          "joined: 2024-01-01\n")
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line, e.field, e.member) == ("members/a.yml", 3, "phone", "M1")
    assert "in quotes" in str(e)


def test_impossible_date(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: 李娜\nphone: '138'\n"
                          "joined: 2026-02-30\n")
    e = only_error(fixture_project)
    assert (e.where.line, e.field) == (4, "joined")
    assert "impossible date '2026-02-30'" in str(e)


@pytest.mark.parametrize("value, means", [
    ("!!int", "a whole number"), ("!!int _", "a whole number"), ("!!float", "a number"),
    ("!!bool maybe", "true or false"), ("!!timestamp 2026", "a date, YYYY-MM-DD"),
    ("!!null 李娜", "nothing")])
def test_a_tagged_value_its_tag_cannot_read(fixture_project, value, means):
    # PyYAML's constructors raise IndexError, KeyError or AttributeError on these (a traceback
    # before), and read `!!null` of any text as None (the text silently lost).
    fixture_project.write("members/a.yml", f"id: M1\nname: {value}\nphone: '138'\n"
                          "joined: 2026-02-03\n")
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line, e.field, e.member) == ("members/a.yml", 2, "name", "M1")
    assert f"as {means} (!!" in str(e), str(e)


def test_unknown_tier_in_a_member(fixture_project):
    fixture_project.add(member(tier_override={"tier": "platinum", "until": "2027-01-01",
                                              "reason": "VIP"}))
    e = only_error(fixture_project)
    assert (e.field, e.member, e.where.line) == ("tier_override.tier", "M1", 6)
    assert "unknown tier 'platinum'; known: member, silver, gold, diamond" in str(e)


def test_unknown_tier_in_the_program(fixture_project):
    data = program()
    data["ambassador"]["min_tier"] = "golden"
    fixture_project.write("members/tiers.yml", dump(data))
    e = only_error(fixture_project)
    assert e.where.file == "members/tiers.yml" and e.field == "ambassador.min_tier"
    assert e.where.line > 1 and "unknown tier 'golden'" in str(e)


def test_negative_amount(fixture_project):
    fixture_project.add(member(orders=[order("O1", "2026-01-02", -30)]))
    e = only_error(fixture_project)
    assert e.field == "orders.0.items.0.price" and e.member == "M1"
    assert e.where.line == line_of(fixture_project, "members/M1.yml", "    price: -30")
    assert "greater than or equal to 0" in str(e)


def test_duplicate_member_ids_across_files(fixture_project):
    fixture_project.add(member(), file="members/a.yml")
    fixture_project.add(member(name="李娜"), file="members/b/c.yml")
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line) == ("members/b/c.yml", 1)
    assert "member id 'M1' is already used at members/a.yml:1" in str(e)


def test_file_that_is_not_utf8(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: 王晓梅\n".encode("gbk"))
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line) == ("members/a.yml", 2)
    assert "not UTF-8" in str(e)


def test_alias_bomb_is_refused_quickly(fixture_project):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    fixture_project.write("members/a.yml", "\n".join(lines) + "\n")
    e = only_error(fixture_project)
    assert (e.where.file, e.where.line) == ("members/a.yml", 2)
    assert "anchors and aliases" in str(e)


def test_merge_key_is_refused(fixture_project):
    fixture_project.write("members/a.yml", "base: &b {joined: 2024-01-01}\nid: M1\n<<: *b\n")
    e = only_error(fixture_project)
    assert e.where.line == 3


def test_python_tag_is_refused(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: !!python/object/apply:os.system "
                          "['touch pwned']\n")
    e = only_error(fixture_project)
    assert (e.where.line, e.field) == (2, "name") and "not allowed" in str(e)
    assert not (fixture_project.root / "pwned").exists()


def test_unknown_activity_and_referral(fixture_project):
    fixture_project.add(member(activities=[{"type": "dance", "date": "2026-01-01"}],
                               referrals=["M404"]))
    errs = errors_of(fixture_project)
    assert sorted((e.field, e.where.line) for e in errs) == [
        ("activities.0.type", line_of(fixture_project, "members/M1.yml", "- type: dance")),
        ("referrals.0", line_of(fixture_project, "members/M1.yml", "- M404"))]


def test_duplicate_order_ids_across_members(fixture_project):
    fixture_project.add(member("M1", orders=[order("O1", "2026-01-02", 10)]))
    fixture_project.add(member("M2", orders=[order("O1", "2026-01-03", 10)]))
    e = only_error(fixture_project)
    assert e.member == "M2" and "also belongs to member M1" in str(e)


def test_bad_program_fields(fixture_project):
    data = program()
    data["tiers"][2]["threshold"] = 500  # below silver's 800
    data["tiers"][1]["benefits"].append("spa_day")
    fixture_project.write("members/tiers.yml", dump(data))
    errs = errors_of(fixture_project)
    assert {e.field for e in errs} == {"tiers.2.threshold", "tiers.1.benefits.3"}
    assert all(e.where.file == "members/tiers.yml" and e.where.line > 1 for e in errs)


def test_all_errors_in_one_run_and_exit_1_with_nothing_written(fixture_project):
    fixture_project.add(member("M1", phone=13800000000), file="members/a.yml")
    fixture_project.write("members/b.yml", "id: M2\nname: 李娜\nname: x\n")
    fixture_project.add(member("M3", joined="2024-13-01"), file="members/c.yml")
    before = sorted(os.walk(fixture_project.root))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(fixture_project.root), "check"])
    assert result.exit_code == 1
    out = result.output
    assert "members/a.yml:3, member M1, field 'phone'" in out
    assert "members/b.yml:3, member M2, field 'name': duplicate key" in out
    assert "members/c.yml:4" in out and "3 errors found" in out
    assert "Traceback" not in out
    assert sorted(os.walk(fixture_project.root)) == before


def test_redemption_beyond_balance_is_reported_by_check(fixture_project):
    fixture_project.add(member(orders=[order("O1", "2026-01-02", 100)],
                               redemptions=[{"date": "2026-02-01", "points": 500,
                                             "gift": "奶瓶"}]))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(fixture_project.root), "--as-of", "2026-11-24",
                                      "check"])
    assert result.exit_code == 1
    line = line_of(fixture_project, "members/M1.yml", "- date: '2026-02-01'")
    assert f"members/M1.yml:{line}, member M1, field 'redemptions': redeems 500 points on " \
           "2026-02-01 but the balance that day is 100" in result.output


def test_member_file_that_is_not_a_mapping(fixture_project):
    fixture_project.write("members/a.yml", "- just\n- words\n")
    errs = errors_of(fixture_project)
    assert [e.where.line for e in errs] == [1, 2]


def test_nesting_bomb_is_refused(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nprofile: " + "[" * 5000 + "]" * 5000 + "\n")
    e = only_error(fixture_project)
    assert e.where.file == "members/a.yml" and "nested more than 32 levels" in str(e)


def test_control_character_names_its_line(fixture_project):
    fixture_project.write("members/a.yml", "id: M1\nname: 王\x07晓梅\n")
    e = only_error(fixture_project)
    assert e.where.line == 2 and "U+0007" in str(e)


def test_amounts_must_be_finite_with_two_decimals(fixture_project):
    fixture_project.write("members/a.yml", dump(member(orders=[order("O1", "2026-01-02", 1)]))
                          .replace("price: 1", "price: .nan"))
    fixture_project.add(member("M2", orders=[order("O2", "2026-01-02", 0.001)]))
    by_member = {e.member: str(e) for e in errors_of(fixture_project)}
    assert "finite number (got nan)" in by_member["M1"]
    assert "no more than 2 decimal places (got 0.001)" in by_member["M2"]

