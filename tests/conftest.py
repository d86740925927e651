"""Shared fixtures: fixture projects in tmp_path and golden files (`make golden` rewrites them)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_PROGRAM = yaml.safe_load((REPO / "members" / "tiers.yml").read_text(encoding="utf-8"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output")


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/golden/<name>, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.is_file(), f"no golden file {path}; run `make golden`"
        assert text == path.read_text(encoding="utf-8"), f"differs from {path} (`make golden`)"

    return check


def program(**changes) -> dict:
    """The example program with top-level fields replaced."""
    data = copy.deepcopy(EXAMPLE_PROGRAM)
    data.update(changes)
    return data


def member(id="M1", **fields) -> dict:
    data = {"id": id, "name": "王晓梅", "phone": "13800000000", "joined": "2024-01-01"}
    data.update(fields)
    return data


def order(id, day, amount, sku="MILK-3-800", qty=1, **extra) -> dict:
    return {"id": id, "date": day, "items": [{"sku": sku, "qty": qty, "price": amount}], **extra}


def dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


class FixtureProject:
    """A brand project in a temporary folder, written file by file."""

    def __init__(self, root: Path):
        self.root = root
        (root / "members").mkdir(parents=True)
        self.write("members/tiers.yml", dump(program()))

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def add(self, *members: dict, file: str | None = None) -> Path:
        body = members[0] if len(members) == 1 else list(members)
        return self.write(file or f"members/{members[0]['id']}.yml", dump(body))


@pytest.fixture
def fixture_project(tmp_path) -> FixtureProject:
    return FixtureProject(tmp_path / "brand")
