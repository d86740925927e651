"""Shared fixtures: fixture projects in tmp_path and golden files (`make golden` rewrites them)."""
from __future__ import annotations

import pytest
from helpers import GOLDEN, FixtureProject


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


@pytest.fixture
def fixture_project(tmp_path) -> FixtureProject:
    return FixtureProject(tmp_path / "brand")
