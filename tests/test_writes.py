"""All-or-nothing writes outside the build: the redemption ledger appends whole rows, `import`
stages beside the members and survives kill -9, private files are 0600."""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from helpers import (
    IMPORTS,
    PORTAL_AS_OF,
    PRINT_SECRET,
    STAFF_SECRET,
    portal_project,
    print_project,
    staff_project,
    tree_digest,
)

from memberportal.core import codes
from memberportal.inputs import ledger
from memberportal.inputs.project import load
from memberportal.site.build import run
from memberportal.staff import importing

AS_OF = date(2026, 11, 24)
UNTIL = date(2027, 10, 2)
OFFERS = {codes.offer_slot("second-half"): "second-half"}
HEADER = "redeemed_at,code,member,offer,as_of\n"


def code(member: str) -> str:
    return codes.make_code(PRINT_SECRET, member, "second-half", UNTIL)


def refs(*members: str) -> dict[int, str]:
    return {codes.member_ref(PRINT_SECRET, m): m for m in members}


@pytest.fixture
def shop(tmp_path):
    return print_project(tmp_path / "brand")


def test_a_ledger_without_its_final_newline_gets_one_before_the_new_row(shop):
    path = shop / "members" / "redemptions.csv"
    first = f"2026-11-01T10:00:00+00:00,{code('M0001')},M0001,second-half,2026-11-01"
    path.write_text(HEADER + first)  # edited by hand, saved without the last newline
    v = ledger.redeem(shop, PRINT_SECRET, code("M0002"), AS_OF, refs("M0001", "M0002"), OFFERS)
    assert v.ok, v
    lines = path.read_text().splitlines()
    assert lines[:2] == [HEADER.strip(), first] and len(lines) == 3
    assert path.read_text().endswith("\n")
    rows = ledger.read_ledger(shop)
    assert [r["member"] for r in rows] == ["M0001", "M0002"]
    # and every later command still reads it
    again = ledger.redeem(shop, PRINT_SECRET, code("M0003"), AS_OF,
                          refs("M0001", "M0002", "M0003"), OFFERS)
    assert again.ok and len(ledger.read_ledger(shop)) == 3


@pytest.mark.parametrize("fails_after", [0, 7, 40])
def test_a_full_disk_while_appending_leaves_no_part_of_a_row(shop, monkeypatch, fails_after):
    path = shop / "members" / "redemptions.csv"
    assert ledger.redeem(shop, PRINT_SECRET, code("M0001"), AS_OF, refs("M0001"), OFFERS).ok
    before = path.read_bytes()
    real = os.write

    def full(fd, data):  # writes some bytes, then the disk is full
        if fails_after and len(data) > fails_after:
            real(fd, bytes(data[:fails_after]))
            return fails_after
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ledger.os, "write", full)
    with pytest.raises(OSError):
        ledger.redeem(shop, PRINT_SECRET, code("M0002"), AS_OF, refs("M0001", "M0002"), OFFERS)
    monkeypatch.setattr(ledger.os, "write", real)
    assert path.read_bytes() == before
    assert ledger.redeem(shop, PRINT_SECRET, code("M0002"), AS_OF, refs("M0001", "M0002"),
                         OFFERS).ok
    assert [r["member"] for r in ledger.read_ledger(shop)] == ["M0001", "M0002"]


@pytest.fixture
def staff(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    return staff_project(tmp_path / "brand")


def test_import_stages_beside_the_members_privately(staff, monkeypatch):
    p = load(staff)
    plan = importing.plan_import(p, IMPORTS / "taobao-orders.csv")
    real, seen = importing.os.replace, []

    def watch(src, dst):
        src, dst = Path(src), Path(dst)
        if dst.suffix == ".yml":
            seen.append((src, dst, stat.S_IMODE(src.stat().st_mode)))
            assert src.parent.parent == staff / "members"      # members/.import-*/
            assert src.parent.name.startswith(".import-")
            assert stat.S_IMODE(src.parent.stat().st_mode) == 0o700
        return real(src, dst)

    monkeypatch.setattr(importing.os, "replace", watch)
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in plan_targets(plan)
             if path.exists()}
    importing.apply(p, plan, AS_OF)
    assert len(seen) == len(plan.changes) == 3
    assert not list((staff / "members").glob(".import-*"))
    assert not list((staff / ".memberportal").glob("import-*"))
    umask = os.umask(0)
    os.umask(umask)
    for _, dst, _ in seen:  # a changed file keeps its mode, a new one gets the usual mode
        assert stat.S_IMODE(dst.stat().st_mode) == modes.get(dst, 0o666 & ~umask), dst


def plan_targets(plan) -> list[Path]:
    return [c.path for c in plan.changes]


KILLER = """
import os, signal, sys
from datetime import date
from pathlib import Path
from memberportal.inputs.project import load
from memberportal.staff import importing
root = Path(sys.argv[1])
p = load(root)
plan = importing.plan_import(p, Path(sys.argv[2]))
real, n = os.replace, [0]
def replace(src, dst):
    if str(dst).endswith(".yml"):
        n[0] += 1
        if n[0] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
importing.os.replace = replace
importing.apply(p, plan, date(2026, 11, 24))
"""


@pytest.mark.parametrize("killed_at", [1, 2, 3])
def test_an_import_killed_midway_is_rolled_back_by_the_next_command(staff, killed_at):
    before = tree_digest(staff / "members")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(staff),
                           str(IMPORTS / "taobao-orders.csv"), str(killed_at)],
                          capture_output=True, text=True,
                          env={**os.environ, "MEMBERPORTAL_SECRET": STAFF_SECRET})
    assert proc.returncode == -9, proc.stderr
    stages = list((staff / "members").glob(".import-*"))
    assert len(stages) == 1 and (stages[0] / "swap.json").is_file()
    check = subprocess.run([sys.executable, "-m", "memberportal", "-C", str(staff),
                            "--as-of", "2026-11-24", "check"], capture_output=True, text=True,
                           env={**os.environ, "MEMBERPORTAL_SECRET": STAFF_SECRET})
    assert "an import was cut off" in check.stderr, check.stderr
    assert tree_digest(staff / "members") == before
    assert not list((staff / "members").glob(".import-*"))


def test_a_stage_left_before_the_swap_is_removed_and_never_read_as_members(staff):
    stage = staff / "members" / ".import-leftover"
    stage.mkdir()
    (stage / "0-M0009.yml").write_text("id: M0009\nname: 某人\nphone: '13900000009'\n")
    old = staff / ".memberportal" / "import-old"
    old.mkdir(parents=True)
    (old / "0-M0008.yml").write_text("personal data")
    project = load(staff)
    assert "M0009" not in {m.id for m in project.members}
    assert not stage.exists() and not old.exists()


def test_a_running_import_is_not_rolled_back_by_a_reader(staff):
    import fcntl
    stage = staff / "members" / ".import-running"
    stage.mkdir()
    (stage / "swap.json").write_text('[["members/2025/M0001-wang-xiaomei.yml", null]]')
    fd = os.open(stage / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        subprocess.run([sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
                        "from memberportal.inputs.project import load\nload(Path(sys.argv[1]))",
                        str(staff)], check=True,
                       env={**os.environ, "MEMBERPORTAL_SECRET": STAFF_SECRET})
        assert stage.exists() and (staff / "members/2025/M0001-wang-xiaomei.yml").exists()
    finally:
        os.close(fd)


def test_private_files_are_readable_by_the_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    run(root, date.fromisoformat(PORTAL_AS_OF), show_progress=False)
    from click.testing import CliRunner

    from memberportal.cli import cli
    assert CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "rotate", "A001"]).exit_code == 0
    private = [root / "output" / "site-manifest.json", root / ".memberportal" / "secret",
               root / ".memberportal" / "rotations.yml",
               *(root / ".memberportal" / "cache").glob("*.pickle")]
    assert len(private) > 4
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
