"""`memberportal init DIR`: a new brand project from the example, valid at once."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from helpers import REPO

from memberportal.cli import cli
from memberportal.inputs.project import load
from memberportal.staff import scaffold

AS_OF = "2026-11-24"


def memberportal(*args, cwd):
    return subprocess.run([sys.executable, "-m", "memberportal", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_init_then_check_in_the_new_folder(tmp_path):
    target = tmp_path / "x"
    done = memberportal("init", str(target), "--example", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "下一步：\n  1. cd" in done.stdout   # outside a brand the command line speaks Chinese
    # No state comes along: above all not the example's secret, nor its output.
    assert not (target / ".memberportal").exists() and not (target / "output").exists()
    for name in scaffold.EXAMPLE_FILES:
        assert (target / name).is_file() == (REPO / name).is_file(), name
    for name in scaffold.EXAMPLE_TREES:
        if (REPO / name).is_dir():
            expected = sorted(p.relative_to(REPO / name) for p in (REPO / name).rglob("*")
                              if p.is_file() and "__pycache__" not in p.parts)
            got = sorted(p.relative_to(target / name) for p in (target / name).rglob("*")
                         if p.is_file())
            assert got == expected, name
    assert (target / "members" / "tiers.yml").read_bytes() == (
        REPO / "members" / "tiers.yml").read_bytes()
    project = load(target)
    example = load(REPO)
    assert 1 <= len(project.members) <= len(scaffold.SAMPLE_MEMBERS)
    assert {m.id for m in project.members} <= set(scaffold.SAMPLE_MEMBERS)
    if len(example.members) > len(scaffold.SAMPLE_MEMBERS):
        assert len(project.members) < len(example.members)  # a few samples, not all

    checked = memberportal("--as-of", AS_OF, "check", cwd=target)
    assert checked.returncode == 0, checked.stderr
    assert f"{len(project.members)} 位会员，全部有效" in checked.stdout  # the brand speaks zh
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no staging folder left behind


def test_init_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["--lang", "en", "init", str(tmp_path / "x"), "--example"])
    assert result.exit_code == 1 and "is not empty" in result.output
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["init", str(empty), "--example"]).exit_code == 0
    assert (empty / "members" / "tiers.yml").is_file()


def test_init_then_build(tmp_path):
    target = tmp_path / "x"
    assert memberportal("init", str(target), "--example", cwd=tmp_path).returncode == 0
    built = memberportal("--as-of", AS_OF, "build", cwd=target)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (target / "output" / "site" / "index.html").is_file()
    assert (target / ".memberportal" / "last-build.json").is_file()


SECRET = "fixture-secret-0123456789abcdef0123456789"


def test_init_for_a_brand_of_its_own_carries_only_that_brand(tmp_path, monkeypatch):
    from helpers import pdftotext, qr_codes, raster
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    target = tmp_path / "qin"
    done = memberportal("init", str(target), "--name", "知音琴行", "--site-url",
                        "https://member.zhiyin.example/", "--lang", "en", "--color", "#8a3b12",
                        "--currency", "USD", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ".memberportal/secret" in done.stdout and "rotations.yml" in done.stdout
    project = load(target)
    assert project.program.brand.name == "知音琴行" and project.program.brand.color == "#8a3b12"
    assert project.program.currency == "USD" and project.program.currency_symbol == "$"
    assert project.program.products == []
    assert all(m.id.startswith(scaffold.PLACEHOLDER_PREFIX) for m in project.members)
    assert all("Sample" in m.name for m in project.members)
    mkdocs = (target / "mkdocs.yml").read_text(encoding="utf-8")
    assert "site_url: \"https://member.zhiyin.example/\"" in mkdocs
    assert "language: en" in mkdocs and "© 知音琴行" in mkdocs
    # the built-in templates are used: only a README tells how to override them
    assert [p.name for p in (target / "templates").iterdir()] == ["README.md"]
    everything = "".join(p.read_text(encoding="utf-8") for p in target.rglob("*")
                         if p.is_file() and ".memberportal" not in p.parts)
    assert "小禾" not in everything and "xiaohejia" not in everything

    checked = memberportal("--as-of", AS_OF, "check", cwd=target)
    assert checked.returncode == 0, checked.stderr
    assert "3 sample members left" in checked.stderr
    built = memberportal("--as-of", AS_OF, "build", "--no-progress", cwd=target)
    assert built.returncode == 0, built.stdout + built.stderr
    site = target / "output" / "site"
    pages = [p for p in site.rglob("*.html")]
    assert len(list((site / "m").glob("*/index.html"))) == 3
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "小禾" not in html and "xiaohejia" not in html, page
    assert "<title>知音琴行 · Members</title>" in (site / "index.html").read_text(encoding="utf-8")

    (target / "parcels.csv").write_text("order_id,member_id\nSAMPLE-2-ORDER,SAMPLE-2\n",
                                        encoding="utf-8")
    printed = memberportal("--as-of", AS_OF, "inserts", "--parcels", "parcels.csv",
                           "--no-progress", cwd=target)
    assert printed.returncode == 0, printed.stderr
    pdf = target / "output" / "print" / "inserts-parcels.pdf"
    text = pdftotext(pdf)
    assert "知音琴行" in text and "小禾" not in text
    assert "Thank you" in text  # the brand's language, from mkdocs.yml
    codes = sorted(c.text for c in qr_codes(raster(pdf, 1)))   # the page, and the order's
    assert codes[0] == "SAMPLE-2-ORDER"
    assert codes[1].startswith("https://member.zhiyin.example/m/") and len(codes) == 2


def test_init_asks_on_a_terminal_and_refuses_to_guess_without_one(tmp_path):
    result = CliRunner().invoke(cli, ["--lang", "en", "init", str(tmp_path / "x")])
    assert result.exit_code == 1 and "give --name and --site-url" in result.output
    assert not (tmp_path / "x").exists()
    result = CliRunner().invoke(cli, ["--lang", "en", "init", str(tmp_path / "x"), "--name", "A",
                                      "--site-url", "member.a.example", "--color", "red"])
    assert result.exit_code == 1
    assert "--site-url: the portal's full address" in result.output
    assert "--color: #rrggbb" in result.output


def test_check_catches_the_examples_leftovers_in_a_new_brand(tmp_path):
    # A project started the old way, a copy of the example, then renamed in tiers.yml only
    target = tmp_path / "x"
    assert CliRunner().invoke(cli, ["init", str(target), "--example"]).exit_code == 0
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(target), "--as-of", AS_OF, "check"])
    assert result.exit_code == 0, result.output     # the example itself is fine
    tiers = target / "members" / "tiers.yml"
    tiers.write_text(tiers.read_text(encoding="utf-8").replace(
        "name: 小禾家母婴", "name: 知音琴行", 1), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(target), "--as-of", AS_OF, "check"])
    assert result.exit_code == 1
    out = result.output
    assert "mkdocs.yml, field 'site_name': site_name '小禾家母婴 · 会员中心' does not name" in out
    assert "field 'copyright': copyright names the example brand (小禾家母婴)" in out
    assert "field 'site_url': site_url is the example brand's address" in out
    built = CliRunner().invoke(cli, ["--lang", "en", "-C", str(target), "--as-of", AS_OF, "build",
                                     "--no-progress"])
    assert built.exit_code == 1 and "site_url is the example brand's address" in built.output
    # with its own name and address everywhere, only the example's members are left: a warning
    config = target / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8")
                      .replace("site_name: 小禾家母婴 · 会员中心\n", "")
                      .replace("copyright: © 小禾家母婴", "copyright: © 知音琴行")
                      .replace("member.xiaohejia.example", "member.zhiyin.example"),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(target), "--as-of", AS_OF, "check"])
    assert result.exit_code == 0, result.output
    assert "of the example brand's members left (M0001" in result.output
    # the example's name kept in a new brand's tiers.yml is refused too
    tiers.write_text(tiers.read_text(encoding="utf-8").replace(
        "name: 知音琴行", "name: 小禾家母婴", 1), encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace(
        "memberportal_example: true", "memberportal_example: false"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(target), "--as-of", AS_OF, "check"])
    assert result.exit_code == 1 and "brand.name is the example brand's" in result.output
