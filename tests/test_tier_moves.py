"""The published tiers: only publishing moves them; build and check say who moves against them."""
from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from helpers import staff_project
from make_brand import copy_design

from memberportal.cli import cli, moves_summary
from memberportal.inputs.snapshot import Snapshot, load_snapshot, tier_moves
from memberportal.serve import rebuild

AS_OF = date(2026, 11, 24)


def run(root, *args):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF.isoformat(), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_threshold_change_previewed_with_serve_still_shows_in_the_next_report(tmp_path):
    root = staff_project(tmp_path / "brand")
    copy_design(root)
    out = run(root, "build", "--no-progress")
    assert "tier moves" not in out                      # nothing published before
    assert load_snapshot(root).tiers["M0001"] == "silver"
    tiers = root / "members" / "tiers.yml"
    tiers.write_text(tiers.read_text(encoding="utf-8").replace("threshold: 3000",
                                                               "threshold: 2500"),
                     encoding="utf-8")
    said: list[str] = []
    rebuild(root, AS_OF, said.append)                   # what serve does on every change
    assert said and said[-1].startswith("built in"), said
    assert load_snapshot(root).tiers["M0001"] == "silver"

    out = run(root, "check")
    assert "tier moves: 1 up (M0001 银禾会员 → 金禾会员), 0 down against the tiers published on " \
           "2026-11-24" in out
    out = run(root, "report")
    assert "1 tier changes since the build of 2026-11-24" in out
    html = (root / "output" / "staff" / "report.html").read_text(encoding="utf-8")
    assert html.count('<span class="flag up">') == 1

    out = run(root, "build", "--no-progress")           # publishing moves the point
    assert "tier moves: 1 up (M0001 银禾会员 → 金禾会员), 0 down" in out
    assert load_snapshot(root).tiers["M0001"] == "gold"
    assert "0 tier changes since the build" in run(root, "report")
    assert "tier moves: 0 up, 0 down" in run(root, "check")


def test_moves_biggest_first_and_named_a_few():
    ranks = {"member": 0, "silver": 1, "gold": 2, "diamond": 3}
    before = Snapshot(AS_OF, {f"M{i}": "member" for i in range(8)} | {
        "D1": "gold", "D2": "diamond", "OLD": "platinum", "SAME": "gold"})
    now = {f"M{i}": ("silver" if i % 2 else "diamond") for i in range(8)} | {
        "D1": "silver", "D2": "member", "OLD": "member", "SAME": "gold", "NEW": "gold"}
    moves = tier_moves(before, now, ranks)
    assert [m[0] for m in moves.up] == ["M0", "M2", "M4", "M6", "M1", "M3", "M5", "M7", "OLD"]
    assert moves.down == [("D2", "diamond", "member"), ("D1", "gold", "silver")]
    text = moves_summary(moves, {"member": "禾苗", "gold": "金禾"}, "en")
    assert text.startswith("tier moves: 9 up (M0 禾苗 → diamond, M2 禾苗 → diamond, M4 禾苗 → diamond, "
                           "M6 禾苗 → diamond, M1 禾苗 → silver, …), 2 down (D2 diamond → 禾苗, "
                           "D1 金禾 → silver)")
    zh = moves_summary(moves, {"member": "禾苗", "gold": "金禾"}, "zh")
    assert zh.startswith("等级变动：升级 9 位（M0 禾苗 → diamond") and "降级 2 位" in zh
