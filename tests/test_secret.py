"""Guard rails on the secret and the rotations: never silently a new secret once pages exist,
strength and type checked, an explicit `secret init|rotate-all`, rotations checked against the
live site's manifest."""
from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import PORTAL_AS_OF, PORTAL_MEMBERS, portal_project

from memberportal.cli import cli
from memberportal.core.tokens import page_token
from memberportal.errors import InputError
from memberportal.inputs.secret import load_secret
from memberportal.site.build import run

DAY = date.fromisoformat(PORTAL_AS_OF)
GOOD = "k3Jd9-Qx7mVt2LpR8nZ4wYc6HbF1sGe0"


@pytest.fixture
def brand(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    return portal_project(tmp_path / "brand")


def cli_run(root: Path, *args: str):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", PORTAL_AS_OF, *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result


def secret_file(root: Path) -> Path:
    return root / ".memberportal" / "secret"


def pages(root: Path) -> set[str]:
    return {p.name for p in (root / "output" / "site" / "m").iterdir() if p.is_dir()}


def test_the_first_build_makes_a_private_secret(brand):
    run(brand, DAY, show_progress=False)
    mode = stat.S_IMODE(secret_file(brand).stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(secret_file(brand).read_text().strip()) == 64


@pytest.mark.parametrize("evidence", ["manifest", "build index"])
def test_a_lost_secret_is_never_silently_replaced(brand, evidence):
    run(brand, DAY, show_progress=False)
    before = pages(brand)
    secret_file(brand).unlink()
    if evidence == "build index":  # the site was deleted, the cache still shows a build
        (brand / "output" / "site-manifest.json").unlink()
    for command in (["build", "--no-progress"], ["cards"], ["report"]):
        result = cli_run(brand, *command)
        if command == ["report"]:
            continue  # the report needs no secret
        assert result.exit_code == 1, (command, result.output)
        assert "no secret, but pages were built before" in result.output
        assert "restore .memberportal/secret" in result.output.lower()
        assert "memberportal secret rotate-all" in result.output
        assert not secret_file(brand).exists()
    if evidence == "manifest":
        assert pages(brand) == before
    # a deliberate new one
    made = cli_run(brand, "secret", "init")
    assert made.exit_code == 0, made.output
    assert "every page" in made.output
    assert stat.S_IMODE(secret_file(brand).stat().st_mode) == 0o600


def test_a_secret_beside_a_different_file_is_an_error(brand, monkeypatch):
    run(brand, DAY, show_progress=False)
    stored = secret_file(brand).read_text().strip()
    monkeypatch.setenv("MEMBERPORTAL_SECRET", GOOD)
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1
    assert "$MEMBERPORTAL_SECRET differs from .memberportal/secret" in result.output
    monkeypatch.setenv("MEMBERPORTAL_SECRET", stored)  # the same one: fine
    assert cli_run(brand, "build", "--no-progress").exit_code == 0


def test_another_secret_than_the_live_site_was_built_with_is_refused(brand, monkeypatch):
    run(brand, DAY, show_progress=False)
    before = pages(brand)
    secret_file(brand).unlink()
    monkeypatch.setenv("MEMBERPORTAL_SECRET", GOOD)  # no file beside it, just another secret
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1, result.output
    assert "not the secret the live site was built with" in result.output
    assert pages(brand) == before
    manifest = (brand / "output" / "site-manifest.json").read_text()
    assert GOOD not in manifest and GOOD[:16] not in manifest


WEAK = {
    "32 times a": "a" * 32,
    "two letters": "ab" * 16,
    "a repeated hex run": "0123456789abcdef" * 2,
    "a repeated word": "password" * 5,
    "31 characters": GOOD[:31],
    "a tab in it": GOOD[:16] + "\t" + GOOD[16:],
    "a control character": GOOD + "\x1b[2J",
}


@pytest.mark.parametrize("case", WEAK)
@pytest.mark.parametrize("where", ["file", "environment"])
def test_weak_secrets_are_refused(brand, monkeypatch, case, where):
    value = WEAK[case]
    if where == "file":
        secret_file(brand).parent.mkdir()
        secret_file(brand).write_text(value + "\n")
    else:
        monkeypatch.setenv("MEMBERPORTAL_SECRET", value)
    with pytest.raises(InputError) as caught:
        load_secret(brand, create=True)
    assert "secret" in str(caught.value) and "memberportal secret init" in str(caught.value)
    assert value.strip() not in str(caught.value)
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1 and "the secret" in result.output


@pytest.mark.parametrize("where", ["file", "environment"])
def test_a_non_ascii_secret_is_a_clear_error(brand, monkeypatch, where):
    value = "品牌的秘密" * 8 + GOOD
    if where == "file":
        secret_file(brand).parent.mkdir()
        secret_file(brand).write_bytes(value.encode("utf-8"))
    else:
        monkeypatch.setenv("MEMBERPORTAL_SECRET", value)
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1
    assert "the secret must be printable ASCII text" in result.output


def test_a_secret_that_is_a_link_or_not_a_file_is_refused(brand, tmp_path):
    secret_file(brand).parent.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text(GOOD)
    secret_file(brand).symlink_to("/etc/passwd")
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1 and "the secret file is a link (to /etc/passwd)" in result.output
    secret_file(brand).unlink()
    secret_file(brand).symlink_to(target)  # a link to a good secret: still refused
    assert "is a link" in cli_run(brand, "build", "--no-progress").output
    secret_file(brand).unlink()
    os.mkfifo(secret_file(brand))  # reading it would hang
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1 and "not a regular file" in result.output
    secret_file(brand).unlink()
    secret_file(brand).mkdir()
    assert "not a regular file" in cli_run(brand, "build", "--no-progress").output


def test_secret_init_refuses_to_overwrite_and_rotate_all_changes_every_address(brand):
    run(brand, DAY, show_progress=False)
    before = pages(brand)
    old = secret_file(brand).read_text()
    again = cli_run(brand, "secret", "init")
    assert again.exit_code == 1 and "exists already" in again.output
    unsure = cli_run(brand, "secret", "rotate-all")
    assert unsure.exit_code != 0 and "--yes" in unsure.output
    assert secret_file(brand).read_text() == old
    done = cli_run(brand, "secret", "rotate-all", "--yes")
    assert done.exit_code == 0, done.output
    assert "Every page address, printed QR code and retention code changes" in done.output
    assert secret_file(brand).read_text() != old
    assert stat.S_IMODE(secret_file(brand).stat().st_mode) == 0o600
    kept = [p for p in secret_file(brand).parent.iterdir() if p.name.startswith("secret.old-")]
    assert len(kept) == 1 and kept[0].read_text() == old
    built = cli_run(brand, "build", "--no-progress")
    assert built.exit_code == 0, built.output
    after = pages(brand)
    assert len(after) == len(PORTAL_MEMBERS) and not after & before
    secret = load_secret(brand)
    assert after == {page_token(secret, m, 0) for m in PORTAL_MEMBERS}


def test_a_lost_or_older_rotations_file_is_an_error_not_a_revival(brand):
    run(brand, DAY, show_progress=False)
    assert cli_run(brand, "rotate", "A003").exit_code == 0
    assert cli_run(brand, "rotate", "A003").exit_code == 0
    assert cli_run(brand, "rotate", "A001").exit_code == 0
    run(brand, DAY, show_progress=False)
    manifest = json.loads((brand / "output" / "site-manifest.json").read_text())
    assert manifest["generations"] == {"A001": 1, "A003": 2}
    live = pages(brand)
    rotations = brand / ".memberportal" / "rotations.yml"
    saved = rotations.read_text()
    rotations.unlink()
    for command in (["build", "--no-progress"], ["cards"]):
        result = cli_run(brand, *command)
        assert result.exit_code == 1, (command, result.output)
        assert "rotations.yml is missing or older than the live site" in result.output
        assert "A001 (generation 1, now 0)" in result.output
        assert "A003 (generation 2, now 0)" in result.output
    assert pages(brand) == live
    rotations.write_text(saved.replace("A003: 2", "A003: 1"))  # an older backup
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 1 and "A003 (generation 2, now 1)" in result.output
    assert "A001" not in result.output.split("revoked")[1]
    rotations.write_text(saved)
    assert cli_run(brand, "build", "--no-progress").exit_code == 0
    # a member who left takes their rotation along: no error
    (brand / "members" / "A001.yml").unlink()
    rotations.write_text(saved.replace("A001: 1\n", ""))
    result = cli_run(brand, "build", "--no-progress")
    assert result.exit_code == 0, result.output
