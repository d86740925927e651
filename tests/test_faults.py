"""Faults: a build killed (SIGKILL, SIGTERM, SIGINT) or stopped by a full disk leaves the previous
site byte for byte, no temporary files, and the next build gives an uninterrupted build's output."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import (
    DAY,
    PORTAL_AS_OF,
    PRINT_SECRET,
    manifest_of,
    member_yaml,
    portal_project,
    print_project,
)

from memberportal.cli import cli
from memberportal.errors import BuildError
from memberportal.site.build import run

SECRET = "fault-tests-secret-0123456789abcdef0123456789"
MEMBERS = 200           # one page per batch: a second or more of pages to interrupt
EXE = Path(sys.executable).parent / "memberportal"
INPUTS = ("members", "content", "templates", "mkdocs.yml")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Anything in output/ but the site, its manifest, the portal's saved shell and the lock:
    staging, parked, temp."""
    keep = {"site", "site-manifest.json", "portal-state.json", ".build.lock"}
    return sorted(p.name for p in out.iterdir() if p.name not in keep)


def make_big(root: Path) -> Path:
    portal_project(root)
    for i in range(MEMBERS):
        mid = f"B{i:04d}"
        (root / "members" / f"{mid}.yml").write_text(
            member_yaml(mid, "赵" + "一二三四五六七八九十"[i % 10] + "芳", f"1390000{i:04d}",
                        100 + 97 * i), encoding="utf-8")
    return root


def change_every_page(root: Path) -> None:
    """A new slogan: every personal page shows it, so every page is rendered again."""
    program = root / "members" / "tiers.yml"
    text = program.read_text(encoding="utf-8")
    assert "slogan: 陪你从孕期走到宝宝三岁" in text
    program.write_text(text.replace("slogan: 陪你从孕期走到宝宝三岁", "slogan: 从孕期到三岁，一直都在"),
                       encoding="utf-8")


def build_cli(root: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "MEMBERPORTAL_SECRET": SECRET}
    # One page per batch, so pages reach staging one by one for the whole pages stage.
    return subprocess.Popen([str(EXE), "--lang", "en", "-C", str(root), "--as-of", PORTAL_AS_OF, "build",
                             "--no-progress", "--chunk", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def descendants(pid: int) -> set[int]:
    """The processes `pid` started, and theirs (Linux: /proc/PID/task/*/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for listing in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = {int(k) for k in listing.read_text().split()} - found
            except OSError:     # gone meanwhile
                continue
            found |= kids
            todo += kids
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:     # gone meanwhile
        return b""


def command_of(proc: subprocess.Popen, within: float = 10.0) -> bytes:
    """The command line `proc` runs. Popen returns when the exec closes the parent's pipe, a
    moment before the kernel sets up the new program's arguments: /proc/PID/cmdline is empty
    until then (seen in CI, and in about 1 of 100 Popen calls on this machine)."""
    deadline = time.monotonic() + within
    while not (line := cmdline(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.001)
    return line


def forks(pid: int, command: bytes) -> set[int]:
    """The processes under `pid` that run its own command (forked workers, not compilers and
    linkers that ctypes.util.find_library runs)."""
    return {child for child in descendants(pid) if cmdline(child) == command}


def running(pids: set[int]) -> set[int]:
    """Those of `pids` still running (not gone, not a zombie waiting to be reaped)."""
    def alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return {p for p in pids if alive(p)}


def all_gone(pids: set[int], within: float = 10.0) -> set[int]:
    """Waits until none of `pids` runs; returns those still running after `within` seconds."""
    deadline = time.monotonic() + within
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running(pids)


def wait_for_pages(root: Path, proc: subprocess.Popen, at_least: int = 5) -> None:
    """Until the build is writing personal pages into its staging folder."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((root / "output").glob(".staging-*/site/m/*/index.html"))) >= at_least:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the build never reached the pages stage")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project with its first build done, and the output of an uninterrupted second build."""
    os.environ["MEMBERPORTAL_SECRET"] = SECRET
    try:
        base = make_big(tmp_path_factory.mktemp("base") / "brand")
        run(base, DAY, show_progress=False)
        reference = tmp_path_factory.mktemp("reference") / "brand"
        shutil.copytree(base, reference, symlinks=True)
        change_every_page(reference)
        started = time.perf_counter()
        b = run(reference, DAY, show_progress=False)
        assert not b.failures and b.rendered == MEMBERS + 5
        print(f"\nfault fixture: {MEMBERS + 5} pages, second build "
              f"{time.perf_counter() - started:.1f}s ({b.timings})")
        yield base, tree(reference / "output" / "site"), \
            manifest_of(reference / "output")
    finally:
        os.environ.pop("MEMBERPORTAL_SECRET", None)


@pytest.fixture
def project(built, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    root = tmp_path / "brand"
    shutil.copytree(built[0], root, symlinks=True)
    change_every_page(root)
    return root


def test_sigkill_during_pages_keeps_the_site_and_the_next_build_cleans_up_and_catches_up(
        built, project):
    _, reference, manifest = built
    out = project / "output"
    before = tree(out / "site")
    proc = build_cli(project)
    wait_for_pages(project, proc)
    workers = descendants(proc.pid)
    assert len(workers) >= 2, workers                     # two page workers, at least
    proc.kill()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert all_gone(workers) == set()                     # no orphan waits for ever
    assert tree(out / "site") == before                  # byte for byte
    assert [n for n in leftovers(out) if n.startswith(".staging-")]  # it died mid-build
    done = build_cli(project)
    stdout, stderr = done.communicate(timeout=120)
    assert done.returncode == 0, stderr
    assert leftovers(out) == []
    assert tree(out / "site") == reference               # as if never interrupted
    assert manifest_of(out) == manifest


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_during_pages_cleans_up_before_exit(built, project, signum):
    _, reference, _ = built
    out = project / "output"
    before = tree(out / "site")
    proc = build_cli(project)
    wait_for_pages(project, proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, (stdout, stderr)
    assert f"interrupted by {signal.Signals(signum).name}" in stderr, stderr
    assert "output/site is still the previous build" in stderr
    assert "Traceback" not in stderr
    assert leftovers(out) == []                          # cleaned before exit
    assert tree(out / "site") == before
    assert run(project, DAY, show_progress=False).rendered == MEMBERS + 5
    assert tree(out / "site") == reference


# --- a full disk ---------------------------------------------------------------------------------


def _blocks(folder: Path) -> int:
    return sum(-(-p.stat().st_size // 4096) * 4096 for p in folder.rglob("*") if p.is_file())


def test_full_disk_on_a_real_tmpfs_keeps_the_previous_site(built, project):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_full_disk_without_root covers ENOSPC")
    out = project / "output"
    site = out / "site"
    # room for the live site, the new portal and about half of the new personal pages
    pages = _blocks(site / "m")
    size = _blocks(site) + (_blocks(site) - pages) + pages // 2 + 64 * 4096
    saved = project / "saved-output"
    shutil.move(out, saved)
    out.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size // 1024}k", "tmpfs",
                              str(out)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount is not permitted here: {mounted.stderr.strip()}")
    try:
        for item in saved.iterdir():
            if item.is_dir():
                shutil.copytree(item, out / item.name, symlinks=True)
            else:
                shutil.copy2(item, out / item.name)
        before = tree(site)
        proc = build_cli(project)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 1, (stdout, stderr)
        assert "No space left on device" in stderr, stderr
        assert "output/site is still the previous build" in stderr
        assert "Traceback" not in stderr
        assert tree(site) == before
        assert leftovers(out) == []
    finally:
        subprocess.run(["umount", str(out)], check=True)


@pytest.mark.parametrize("where", ["page_for", "render"])
def test_a_signal_while_this_process_renders_stops_the_build(project, monkeypatch, where):
    # One worker renders in this process, inside code that turns any Exception into one
    # page's failure: the signal must still stop the build, not fail a page and go on.
    from memberportal.site import batches, pages
    out = project / "output"
    before = tree(out / "site")
    module, name = (batches, "page_for") if where == "page_for" else (pages, "render")
    real = getattr(module, name)
    calls = []

    def signalled(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, signalled)
    with pytest.raises(BuildError) as err:
        run(project, DAY, show_progress=False, workers=1)
    assert "interrupted by SIGINT" in str(err.value)
    assert "output/site is still the previous build" in str(err.value)
    assert len(calls) < MEMBERS                    # it stopped there, not at the end
    assert tree(out / "site") == before and leftovers(out) == []


def test_a_signal_while_the_old_site_is_removed_says_the_new_site_is_live(built, project,
                                                                          monkeypatch):
    # Every page changes: the new site is exchanged whole and the old one, now in staging, is
    # deleted after the swap (40 s for 100,000 pages on a slow disk): a Ctrl-C then must not
    # claim the previous build is still there.
    _, reference, manifest = built
    out = project / "output"
    real = shutil.rmtree
    signalled = []

    def slow_rmtree(path, *args, **kwargs):
        if Path(path).name.startswith(".staging-") and not signalled:  # the folder itself
            signalled.append(path)
            os.kill(os.getpid(), signal.SIGINT)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", slow_rmtree)
    with pytest.raises(BuildError) as err:
        run(project, DAY, show_progress=False, workers=1)
    assert signalled
    message = str(err.value)
    assert "interrupted by SIGINT after the new site went live" in message, message
    assert "still the previous build" not in message
    assert tree(out / "site") == reference and manifest_of(out) == manifest
    monkeypatch.setattr(shutil, "rmtree", real)
    again = run(project, DAY, show_progress=False)      # removes what was left
    assert leftovers(out) == [] and again.rendered == 0
    assert tree(out / "site") == reference


def test_a_signal_while_threads_remove_old_pages_stops_them_and_the_next_build_finishes(
        built, project, monkeypatch):
    # The previous site's pages are deleted by threads; Ctrl-C in the middle must stop them
    # after their current page (not run on to the end), and leave the rest for the next build.
    _, reference, manifest = built
    out = project / "output"
    real = os.rmdir
    removed = []

    def slow_rmdir(path, *args, **kwargs):
        if ".staging-" in str(path) and "/m/" in str(path):
            removed.append(path)
            if len(removed) == 10:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", slow_rmdir)
    with pytest.raises(BuildError) as err:
        run(project, DAY, show_progress=False, workers=1)
    assert "interrupted by SIGINT after the new site went live" in str(err.value)
    assert 10 <= len(removed) < MEMBERS / 2        # stopped soon, not after every page
    [staging] = [n for n in leftovers(out) if n.startswith(".staging-")]
    assert len(list((out / staging).glob("site/m/*/index.html"))) > MEMBERS / 2
    assert tree(out / "site") == reference and manifest_of(out) == manifest
    monkeypatch.setattr(os, "rmdir", real)
    again = run(project, DAY, show_progress=False)
    assert leftovers(out) == [] and again.rendered == 0
    assert tree(out / "site") == reference


def test_full_disk_without_root_keeps_the_previous_site(project, monkeypatch):
    out = project / "output"
    before = tree(out / "site")
    real = os.write
    written = []

    def full_disk(fd, data):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if ".staging-" in path and "/m/" in path:
            written.append(path)
            if len(written) > 10:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(BuildError) as err:  # one worker: in this process, where the patch is
        run(project, DAY, show_progress=False, workers=1)
    message = str(err.value)
    assert "No space left on device" in message and "pages stage" in message
    assert "output/site is still the previous build" in message
    assert tree(out / "site") == before and leftovers(out) == []
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "--as-of", PORTAL_AS_OF, "build",
                                      "--no-progress", "--workers", "1"])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert isinstance(result.exception, SystemExit)


def test_sigkill_while_inserts_render_leaves_no_pdf_and_no_worker(built, project, tmp_path):
    temp = tmp_path / "tmp"                              # where the fonts are copied
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}

    def inserts(parcels: Path) -> subprocess.Popen:
        return subprocess.Popen([str(EXE), "-C", str(project), "--as-of", PORTAL_AS_OF, "inserts",
                                 "--parcels", str(parcels), "--chunk", "1", "--workers", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    parcels = project / "parcels.csv"
    parcels.write_text("order_id,member_id\n" + "".join(
        f"T{i:05d},B{i % MEMBERS:04d}\n" for i in range(400)), encoding="utf-8")
    proc = inserts(parcels)
    command = command_of(proc)
    deadline = time.monotonic() + 60
    while len(workers := forks(proc.pid, command)) < 2:  # both render workers forked
        if proc.poll() is not None or time.monotonic() > deadline:
            seen = {k: cmdline(k) for k in descendants(proc.pid)}
            raise AssertionError(f"no two workers forked: {command!r}, {seen}, "
                                 f"{proc.communicate()}")
        time.sleep(0.01)
    time.sleep(0.5)                                      # rendering, not starting
    proc.kill()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert all_gone(workers) == set()
    out = project / "output" / "print"
    assert not out.exists() or not [p.name for p in out.iterdir() if "inserts" in p.name]
    # Its fonts folder stays behind (nothing runs at a kill -9); the next run removes it.
    assert [p.name.startswith(f"memberportal-fonts-{proc.pid}-") for p in temp.iterdir()] \
        == [True]
    few = project / "few.csv"
    few.write_text("order_id,member_id\nF1,B0001\nF2,B0002\n", encoding="utf-8")
    again = inserts(few)
    assert again.wait(timeout=120) == 0, again.communicate()
    assert list(temp.iterdir()) == []


def test_full_disk_while_writing_a_pdf_keeps_the_previous_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    args = ["-C", str(root), "--as-of", PORTAL_AS_OF, "cards"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    pdf = root / "output" / "print" / "cards.pdf"
    before = pdf.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("memberportal.layout.os.fsync", no_space)
    (root / "members" / "M0002.yml").write_text(
        (root / "members" / "M0002.yml").read_text().replace("李娜", "李丽"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert isinstance(result.exception, SystemExit)
    assert pdf.read_bytes() == before
    assert [p.name for p in pdf.parent.iterdir()] == ["cards.pdf"]
