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
    done = memberportal("init", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "next: cd" in done.stdout
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
    assert f"{len(project.members)} members, valid" in checked.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no staging folder left behind


def test_init_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "x")])
    assert result.exit_code == 1 and "is not empty" in result.output
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["init", str(empty)]).exit_code == 0
    assert (empty / "members" / "tiers.yml").is_file()


def test_init_then_build(tmp_path):
    target = tmp_path / "x"
    assert memberportal("init", str(target), cwd=tmp_path).returncode == 0
    built = memberportal("--as-of", AS_OF, "build", cwd=target)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (target / "output" / "site" / "index.html").is_file()
    assert (target / ".memberportal" / "last-build.json").is_file()
