"""`cards` with nothing to print; parcels files as pick lists come (order ids alone)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import print_project

from memberportal.cli import cli


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", "fixture-secret-0123456789abcdef0123456789")
    return print_project(tmp_path / "brand")


def test_cards_with_nothing_to_print_say_so_and_succeed(root):
    # years after every first order, no member has an active retention offer
    result = CliRunner().invoke(cli, ["-C", str(root), "--as-of", "2031-01-01", "cards",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "no member has an active retention offer on 2031-01-01" in result.output
    assert not (root / "output" / "print" / "cards.pdf").exists()
