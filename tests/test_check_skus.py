"""`check` warns about an order line whose SKU the program does not list."""
from __future__ import annotations

from click.testing import CliRunner
from helpers import FixtureProject, member, order

from memberportal.cli import cli


def test_check_warns_about_an_unknown_sku_and_suggests_the_near_one(tmp_path):
    p = FixtureProject(tmp_path / "brand")
    p.add(member("M1", orders=[order("O1", "2026-10-01", 268, sku="MILK-3-80O"),
                               order("O2", "2026-11-01", 59, sku="WIPES-80x6")]))
    p.add(member("M2", orders=[order("O3", "2026-10-01", 10, sku="GIFT-CARD")]))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(p.root), "--as-of", "2026-11-24", "check"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output     # a warning, not an error
    lines = result.output.splitlines()
    warnings = [line for line in lines if line.startswith("warning: ")]
    def line_of(file, text):
        lines = (p.root / "members" / file).read_text(encoding="utf-8").splitlines()
        return next(i for i, t in enumerate(lines, 1) if text in t)

    assert warnings == [
        f"warning: members/M1.yml:{line_of('M1.yml', 'MILK-3-80O')}, member M1, field 'orders.0.items.0.sku': SKU "
        "'MILK-3-80O' is not in the program's products; did you mean MILK-3-800?",
        f"warning: members/M2.yml:{line_of('M2.yml', 'GIFT-CARD')}, member M2, field 'orders.0.items.0.sku': SKU 'GIFT-CARD' "
        "is not in the program's products"]
    assert "2 members, valid (as of 2026-11-24), 2 warnings" in result.output


def test_check_is_quiet_when_every_sku_is_known(tmp_path):
    p = FixtureProject(tmp_path / "brand")
    p.add(member("M1", orders=[order("O1", "2026-10-01", 268)]))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(p.root), "--as-of", "2026-11-24", "check"],
                                catch_exceptions=False)
    assert result.exit_code == 0 and "warning" not in result.output
