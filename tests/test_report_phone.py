"""The staff report on a phone (390 px): cards, tappable phone numbers, no sideways scrolling;
printed on A4 it keeps its tables."""
from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from helpers import chromium, open_page, serve
from make_brand import make

from memberportal.cli import cli

AS_OF = date(2026, 11, 24)


def test_the_report_reads_at_390_px_and_prints_as_tables(tmp_path):
    root = tmp_path / "brand"
    make(300, root, seed=7)
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF.isoformat(), "report"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    staff = root / "output" / "staff"
    with serve(staff) as base, chromium() as browser:
        url = f"{base}/report.html"
        phone = open_page(browser, url, screenshot="staff-report-390.png", width=390)
        wide = open_page(browser, url, screenshot="staff-report-1280.png", width=1280)
        assert phone.console_errors == [] == wide.console_errors
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(url)
        sizes = page.evaluate("""() => {
            const root = document.documentElement;
            const call = document.querySelector('#calls tbody tr');
            const tel = document.querySelector('#calls a.phone').getBoundingClientRect();
            const wider = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 390.5).map(e => e.tagName);
            const title = document.querySelector('h1').getBoundingClientRect();
            return {scroll: root.scrollWidth, wider,
                    row: getComputedStyle(call).display,
                    head: getComputedStyle(document.querySelector('#calls thead')).display,
                    tel: [tel.width, tel.height], title: title.height,
                    titleLine: parseFloat(getComputedStyle(document.querySelector('h1'))
                                          .lineHeight)};
        }""")
        page.emulate_media(media="print")
        printed = page.evaluate("""() => getComputedStyle(
            document.querySelector('#calls thead')).display""")
        page.close()
        wide_page = browser.new_page(viewport={"width": 1280, "height": 900})
        wide_page.goto(url)
        wide_rows = wide_page.evaluate("""() => getComputedStyle(
            document.querySelector('#calls tbody tr')).display""")
        wide_page.close()
    assert sizes["scroll"] <= 390, sizes
    assert sizes["wider"] == []
    assert sizes["row"] == "block" and sizes["head"] == "none"    # a card per call
    assert sizes["tel"][0] >= 200 and sizes["tel"][1] >= 44       # a button to tap
    assert sizes["title"] < 2 * sizes["titleLine"]                # "员工日报" on one line
    assert printed == "table-header-group" and wide_rows == "table-row"
