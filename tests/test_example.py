"""The repository's own example brand: valid, and its statuses as staff see them (golden)."""
from __future__ import annotations

import shutil
import subprocess
import sys

from click.testing import CliRunner
from helpers import REPO

from memberportal.cli import cli

AS_OF = "2026-11-24"
GOLDEN_MEMBERS = ("M0001", "M0002", "M0004", "M0006", "M0014", "M0023")


def run(*args):
    return CliRunner().invoke(cli, ["-C", str(REPO), "--as-of", AS_OF, *args])


def test_example_brand_checks_clean_and_prints_counts(golden, tmp_path):
    # a copy without the checkout's state: no tiers published by an earlier build to compare with
    for name in ("mkdocs.yml", "members", "content"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "--as-of", AS_OF, "check"])
    assert result.exit_code == 0, result.output
    assert "各等级会员数" in result.output and "各阶段会员数" in result.output  # the brand speaks zh
    golden("check.txt", result.output)


def test_explain_example_members(golden):
    for member_id in GOLDEN_MEMBERS:
        result = run("explain", member_id)
        assert result.exit_code == 0, result.output
        golden(f"explain-{member_id}.txt", result.output)


def test_explain_unknown_member_suggests():
    result = run("explain", "M001")      # the example brand's CLI speaks Chinese
    assert result.exit_code == 1 and "没有 id 为 'M001' 的会员；是否想写 M0" in result.output
    result = run("--lang", "en", "explain", "M001")
    assert result.exit_code == 1 and "no member with id 'M001'; did you mean" in result.output


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "memberportal", "--version"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("memberportal, version")
