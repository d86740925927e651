"""Masking and spoofing: masks are defined on visible characters, invisible and bidi names are
refused, escape sequences from data never reach the terminal."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import DAY, STAFF_SECRET, FixtureProject, member, portal_project, staff_project

from memberportal.cli import cli
from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load
from memberportal.render.templates import mask_name
from memberportal.serve import rebuild


@pytest.mark.parametrize("name, masked", [
    ("王晓梅", "王*梅"),
    ("王 五", "王*"),
    ("王\n五", "王*"),
    ("王\t晓\u3000梅", "王*梅"),
    ("王\u200b五", "王*"),                 # zero-width space
    ("\u202e王五", "王*"),                 # right-to-left override
    ("王\u2066晓\u2069梅", "王*梅"),        # isolates
    ("欧阳 娜娜", "欧阳**"),
    ("Ａｎｎａ Ｓｍｉｔｈ", "A*** S****"),   # full-width letters: NFKC
    ("Anna\u00adSmith", "A********"),       # soft hyphen
    ("  Anna   Smith  ", "A*** S****"),
    ("\u200b\u200d", ""),
])
def test_masking_is_defined_on_visible_characters(name, masked):
    assert mask_name(name) == masked


def test_no_character_of_an_unmasked_part_survives_spacing_tricks():
    for name in ("王 晓 梅", "王\u00a0晓\u00a0梅", "王\r\n晓梅", "王\u2028晓\u2029梅"):
        got = mask_name(name)
        assert "晓" not in got and got == "王*梅", (name, got)


@pytest.mark.parametrize("name", ["\u200b", "\u200b\u200c\u200d\ufeff", " \u3164 ", "\u2800",
                                  "\u202e", "\x1b[2J"])
def test_names_with_nothing_visible_are_refused(tmp_path, name):
    fx = FixtureProject(tmp_path)
    fx.add(member(name=name))
    with pytest.raises(ValidationFailed) as caught:
        load(tmp_path, cache=False)
    (e,) = caught.value.errors
    assert e.member == "M1" and e.field == "name" and e.where.line == 2, str(e)


@pytest.mark.parametrize("name", ["王\u202e五梅", "Anna\u2066Smith", "王五\x07", "王\x1b[31m五"])
def test_names_with_bidi_or_control_characters_are_refused(tmp_path, name):
    fx = FixtureProject(tmp_path)
    fx.add(member(name=name))
    with pytest.raises(ValidationFailed) as caught:
        load(tmp_path, cache=False)
    (e,) = caught.value.errors
    assert e.field == "name" and "control or direction-changing" in e.message, str(e)


def test_escape_sequences_from_data_never_reach_the_terminal(tmp_path):
    fx = FixtureProject(tmp_path)
    # a member id cannot carry them, but a field value shown in an error can
    fx.write("members/M1.yml", "id: M1\nname: 王晓梅\nphone: '13800000000'\n"
                               "joined: 2024-01-01\nrole: \"\\e]0;pwned\\a\\e[2J\\u202e\"\n")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(tmp_path), "--as-of", "2026-11-24", "check"])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\u202e" not in result.output
    assert "\\x1b" in result.output and "\\u202e" in result.output  # shown, harmless


def test_escape_sequences_from_csv_cells_never_reach_the_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = staff_project(tmp_path / "brand")
    (tmp_path / "mine.yml").write_text(
        "name: mine\nchannel: own-shop\ncolumns:\n  order_id: order\n  member_id: member\n"
        "  phone: phone\n  date: paid\n  sku: sku\n  qty: qty\n  amount: paid_total\n")
    export = tmp_path / "own.csv"
    export.write_text("order,member,phone,paid,sku,qty,paid_total\n"
                      "OWN-1,M0002,,\x1b]0;pwned\x07\x1b[2J,WIPES-80x6,\u202e1,59\x9b31m\n",
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "import",
                                      str(export), "--mapping", str(tmp_path / "mine.yml")])
    assert result.exit_code == 1, result.output
    assert "not a date" in result.output and "quantity must be" in result.output
    for raw in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert raw not in result.output
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in result.output
    assert "\\u202e1" in result.output


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202e"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\u202e"


def _harmless(output: str) -> None:
    for raw in ("\x1b", "\x07", "\u202e", "\r"):
        assert raw not in output, output


def test_messages_other_modules_print_are_escaped_too(tmp_path, monkeypatch, capsys):
    # build notes (MkDocs' warnings quote content/), explain, check, report, serve's messages
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = portal_project(tmp_path / "brand")
    page = root / "content" / "handbook-intro.md"
    page.write_text(page.read_text(encoding="utf-8") + f"\n[x]({HOSTILE}.md)\n",
                    encoding="utf-8")
    path = root / "members" / "A001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "consultant: 周老师", 'consultant: "周\\e]0;pwned\\a\\e[2J\\u202e\\r老师"'),
        encoding="utf-8")
    args = ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24"]
    runner = CliRunner()
    for command in (["build", "--no-progress"], ["explain", "A001"], ["check"],
                    ["report", "--format", "html"]):
        result = runner.invoke(cli, [*args, *command])
        assert result.exit_code == 0, result.output
        _harmless(result.output)
        if command[0] == "build":   # a CR in content/ reaches MkDocs as a line break
            assert SHOWN in result.output, result.output   # shown, as escapes
        if command[0] == "explain":
            assert SHOWN + "\\x0d老师" in result.output, result.output
    capsys.readouterr()
    path.write_text(path.read_text(encoding="utf-8") +  # a failed build shows the value
                    'role: "\\e]0;pwned\\a\\e[2J\\u202e"\n', encoding="utf-8")
    rebuild(root, DAY)
    said = capsys.readouterr()
    assert "build failed" in said.out and SHOWN in said.out
    _harmless(said.out + said.err)
