"""links.references: the fast scan finds every URL a scan from every position finds."""
from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from memberportal.site import links

# The scan links.py used before it jumped from "=", "(" and "@": a name or url( tried at
# every position, consuming each value. Slow, simple, the reference.
_CSS = re.compile(r"""url\(\s*("[^"]*"|'[^']*'|[^)]*)\s*\)|@import\s+("[^"]*"|'[^']*')""",
                  re.I)


def every_position(page: str) -> list[str]:
    found = []
    for name, value in links._ATTR.findall(page):
        value = html.unescape(value.strip("\"'"))
        if name.lower() in ("srcset", "imagesrcset"):
            found += [part.strip().split()[0] for part in value.split(",") if part.strip()]
        else:
            found.append(value)
    for text in (page, html.unescape(page)):
        for url, imported in _CSS.findall(text):
            found.append((url or imported).strip().strip("\"'"))
    for tag in links._REFRESH.findall(page):
        found += links._REFRESH_URL.findall(html.unescape(tag))
    return list(dict.fromkeys(u.strip() for u in found))


PIECES = ['<img ', '<a ', ' ', '"', "'", '=', ' = ', '\n', '\u3000', '>', ',', ' 2x, ', 'x',
          'src', 'SRC', 'srcset', 'imagesrcset', 'href', 'xlink:href', 'data', 'cite', 'ſrc',
          'url(', 'URL(', ')', '@import ', '@IMPORT', 'style="', 'background:',
          'http://evil.example/', '//evil.example/x', '../../../x', 'a.png',
          '&quot;', '&#39;', '&amp;', '&#117;rl(', '&lpar;',
          '<meta http-equiv="refresh" content="0; url=http://x.example/">']


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16).map("".join))
def test_fast_scan_finds_all_the_scan_from_every_position_finds(page):
    fast = links.references(page)
    assert set(every_position(page)) <= set(fast)


def test_a_value_hiding_a_reference_is_still_checked():
    # a scan that consumes values never looks inside src="…"; the fast one does
    page = '<p>see src="</p><img src=\'http://evil.example/x.png\'><p>"</p>'
    assert "http://evil.example/x.png" in links.refused(page, "m/T")
    assert "http://evil.example/x.png" not in every_position(page)


def test_spaces_around_equals_and_entities_are_read_like_a_browser():
    page = ('<img SRC = "//evil.example/a.png"><div style="background: url(&quot;'
            'http://evil.example/b.png&quot;)"></div><img srcset="ok.png 1x, ../../../c.png 2x">')
    assert links.refused(page, "m/T") == ["//evil.example/a.png", "../../../c.png",
                                          "http://evil.example/b.png"]
