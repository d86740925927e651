"""The in-place swap, cut off by kill -9 or SIGTERM at each of its steps: no revoked page is live
beside a new one, the next command finishes the swap and says which build is live."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import DAY, PORTAL_AS_OF, manifest_of, portal_project, snapshot

from memberportal.serve import rebuild
from memberportal.site.build import run
from memberportal.site.publish import JOURNAL, TEST_SWAP_PAUSE

SECRET = "swap-journal-tests-secret-0123456789abcdef0123"
EXE = Path(sys.executable).parent / "memberportal"
ROTATED = ("A003", "A004")        # their addresses are revoked by the second build


def command(root: Path, *args: str, pause: str | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "MEMBERPORTAL_SECRET": SECRET, "NO_COLOR": "1"}
    env.pop(TEST_SWAP_PAUSE, None)
    if pause:
        env[TEST_SWAP_PAUSE] = pause
    return subprocess.Popen([str(EXE), "--lang", "en", "-C", str(root), "--as-of", PORTAL_AS_OF,
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def pages(root: Path) -> dict[str, dict]:
    return json.loads((root / "output" / "site-manifest.json").read_text())["pages"]


def digest(root: Path) -> str:
    return hashlib.sha256((root / "output" / "site-manifest.json").read_bytes()).hexdigest()[:12]


def change(root: Path) -> None:
    """Two addresses revoked, one member's page changed, the portal's text changed."""
    for mid in ROTATED:
        done = command(root, "rotate", mid)
        assert done.wait(timeout=60) == 0, done.communicate()
    path = root / "members" / "A001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("price: 900", "price: 950"),
                    encoding="utf-8")
    story = next((root / "content").rglob("*.md"))
    story.write_text(story.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A built project with its change made, and what an uninterrupted build of it gives."""
    os.environ["MEMBERPORTAL_SECRET"] = SECRET
    try:
        base = portal_project(tmp_path_factory.mktemp("base") / "brand")
        run(base, DAY, show_progress=False)
        revoked = set(pages(base))
        change(base)
        reference = tmp_path_factory.mktemp("reference") / "brand"
        shutil.copytree(base, reference, symlinks=True)
        b = run(reference, DAY, show_progress=False)
        revoked -= set(pages(reference))
        assert len(revoked) == len(ROTATED) and b.reused and not b.portal_reused  # in place
        yield base, revoked, snapshot(reference / "output" / "site"), \
            manifest_of(reference / "output")
    finally:
        os.environ.pop("MEMBERPORTAL_SECRET", None)


@pytest.fixture
def project(built, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    root = tmp_path / "brand"
    shutil.copytree(built[0], root, symlinks=True)
    return root


def paused(proc: subprocess.Popen, step: int) -> None:
    """Until the build stops at the test pause after `step` (its stderr says so)."""
    lines = []
    while line := proc.stderr.readline():
        lines.append(line)
        if line.startswith(f"swap paused after step {step}"):
            return
    raise AssertionError(f"the build never paused: {''.join(lines)} {proc.stdout.read()}")


def live_state(root: Path, revoked: set[str], reference: dict[str, bytes],
               before: dict[str, bytes]) -> tuple[bool, bool]:
    """(a revoked page is live, a personal page only the new build has is live)."""
    site = root / "output" / "site"
    old = any((site / "m" / token).exists() for token in revoked)
    new = any(name.startswith("m/") and before.get(name) != data and (site / name).is_file()
              and (site / name).read_bytes() == data for name, data in reference.items())
    return old, new


# steps: 1-2 remove the revoked pages, 3-5 write the new pages, 6 exchanges the portal


@pytest.mark.parametrize("step", [1, 2, 4, 6])
@pytest.mark.parametrize("then", ["check", "build", "serve"])
def test_kill_9_mid_swap_then_the_next_command_finishes_it_and_says_so(built, project, step,
                                                                        then, capsys):
    _, revoked, reference, manifest = built
    out = project / "output"
    before = snapshot(out / "site")
    old_digest = digest(project)
    proc = command(project, "build", "--no-progress", pause=f"{step}:60")
    paused(proc, step)
    proc.kill()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    [staging] = out.glob(".staging-*")
    assert (staging / JOURNAL).is_file()
    revoked_live, new_live = live_state(project, revoked, reference, before)
    assert not (revoked_live and new_live)              # never a revoked page beside a new one
    assert revoked_live == (step < len(revoked))
    if step == 6:   # the new portal is live; the pages are on their way back (microseconds)
        assert not (out / "site" / "m").exists()
    else:
        assert new_live == (step > len(revoked))
    if then == "serve":   # its first build, in this process
        rebuild(project, DAY, say=lambda m: None)
        stderr = capsys.readouterr().err
    else:
        done = command(project, then, *(["--no-progress"] if then == "build" else []))
        stdout, stderr = done.communicate(timeout=120)
        assert done.returncode == 0, stderr
    assert (f"a build was cut off while it put its site live, between the build as of "
            f"{PORTAL_AS_OF} (manifest {old_digest}) and the build as of {PORTAL_AS_OF} "
            f"(manifest {digest(project)}): finished the swap; output/site is now the build "
            f"as of {PORTAL_AS_OF} (manifest {digest(project)})") in stderr, stderr
    assert snapshot(out / "site") == reference          # as if never interrupted
    assert manifest_of(out) == manifest
    assert not list(out.glob(".staging-*"))
    assert not any((out / "site" / "m" / token).exists() for token in revoked)
    assert run(project, DAY, show_progress=False).rendered == 0


@pytest.mark.parametrize("step", [1, 3, 6])
def test_sigterm_mid_swap_finishes_the_swap_and_says_the_new_site_is_live(built, project, step):
    _, revoked, reference, manifest = built
    out = project / "output"
    proc = command(project, "build", "--no-progress", pause=f"{step}:1")
    paused(proc, step)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, (stdout, stderr)
    assert "interrupted by SIGTERM after the new site went live" in stderr, stderr
    assert "still the previous build" not in stderr and "Traceback" not in stderr
    assert snapshot(out / "site") == reference and manifest_of(out) == manifest
    assert not list(out.glob(".staging-*"))
    check = command(project, "check")
    _, said = check.communicate(timeout=120)
    assert check.returncode == 0 and "cut off" not in said   # nothing left to recover
