"""The portal and personal pages in headless Chromium at a phone's and a desktop's width:
no sideways scrolling, tile lists laid out as grids, readable text on the tier colours, the
page's own QR code only where it is useful, a branded 404 and m/ page."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from helpers import REPO, chromium, open_page, serve

from memberportal.core.tokens import page_token
from memberportal.inputs.secret import load_secret
from memberportal.site.build import run

AS_OF = date(2026, 11, 24)
# The example brand's members, one of each kind the page must serve well.
KINDS = {"new": "M0044", "offer-ending": "M0010", "grace": "M0006", "ambassador": "M0021",
         "lost": "M0039", "diamond": "M0003", "base-tier": "M0036", "silver": "M0001",
         "gold": "M0015"}
WIDTHS = (390, 1280)

MEASURE = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const ch = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
                            return (x + 0.05) / (y + 0.05); };
  const doc = document.documentElement;
  const card = document.querySelector('.mp-tiercard');
  let contrast = null;
  if (card) {
    const bg = rgb(getComputedStyle(card).backgroundColor);
    const texts = [...card.querySelectorAll('p, span:not(.mp-badge), b')]
      .filter((e) => e.textContent.trim() && !e.closest('.mp-badge'));
    contrast = Math.min(...texts.map((e) => ratio(rgb(getComputedStyle(e).color), bg)));
    const badge = card.querySelector('.mp-badge');
    contrast = Math.min(contrast, ratio(rgb(getComputedStyle(badge).color),
                                        rgb(getComputedStyle(badge).backgroundColor)));
  }
  const qr = document.querySelector('.mp-qr');
  return {
    overflow: doc.scrollWidth - doc.clientWidth,
    lists: [...document.querySelectorAll('ul.mp-benefits, ul.mp-recs, ul.mp-rewards, ul.mp-earn')]
      .map((u) => getComputedStyle(u).display),
    contrast,
    qr: qr ? getComputedStyle(qr).display !== 'none' : null,
  };
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("brand")
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    b = run(root, AS_OF, show_progress=False)
    assert not b.failures
    return root


def _tokens(root: Path) -> dict[str, str]:
    secret = load_secret(root)
    return {kind: page_token(secret, mid, 0) for kind, mid in KINDS.items()}


def test_pages_fit_the_screen_tiles_are_grids_and_the_member_card_is_readable(site):
    tokens = _tokens(site)
    portal = ["/", "/tiers/", "/points/", "/story/", "/participate/checkin/", "/m/"]
    with serve(site / "output" / "site") as base, chromium() as browser:
        for width in WIDTHS:
            for path in portal:
                r = open_page(browser, base + path, width=width, height=800, evaluate=MEASURE)
                assert r.status == 200, path
                assert r.measured["overflow"] <= 0, (width, path, r.measured)
            for kind, token in tokens.items():
                shot = f"member-{kind}-{width}.png" if width == 390 else None
                r = open_page(browser, f"{base}/m/{token}/", width=width, height=800,
                              evaluate=MEASURE, screenshot=shot)
                m = r.measured
                assert r.status == 200 and not r.console_errors, (kind, r.console_errors)
                assert m["overflow"] <= 0, (width, kind, m)
                assert m["lists"] and set(m["lists"]) == {"grid"}, (width, kind, m)
                assert m["contrast"] >= 4.5, (width, kind, m)
                # the page's own QR code takes a phone to where it already is
                assert m["qr"] is (width > 600), (width, kind, m)


def test_an_old_address_and_m_say_in_the_programs_language_how_to_get_a_new_link(site):
    with serve(site / "output" / "site") as base, chromium() as browser:
        gone = open_page(browser, base + "/m/OLDTOKENOLDTOKENOLDTOKEN00/", width=390)
        index = open_page(browser, base + "/m/", width=390)
    # Python's test server answers 404 without the site's page; the page itself is checked
    page = (site / "output" / "site" / "404.html").read_text(encoding="utf-8")
    assert "Not found" not in page and "找不到这个页面" in page and "插页" in page
    assert gone.status == 404
    assert "插页" in index.text and "会员卡上的二维码" not in index.text
    assert "联系客服" in index.text


def test_check_warns_about_a_tier_colour_no_text_can_be_read_on(tmp_path):
    from click.testing import CliRunner
    from helpers import FixtureProject, dump, program

    from memberportal.cli import cli
    data = program()
    data["tiers"][2]["color"] = "#777777"     # 4.48:1 with white, less with dark ink
    project = FixtureProject(tmp_path / "brand")
    project.write("members/tiers.yml", dump(data))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project.root), "--as-of", "2026-11-24", "check"])
    assert result.exit_code == 0, result.output
    assert "tiers.2.color" in result.output and "#777777" in result.output
    assert "tiers.1.color" not in result.output and "tiers.3.color" not in result.output
