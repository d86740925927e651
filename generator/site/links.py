"""What a rendered page may reference: files inside the site, never another host or scheme."""
from __future__ import annotations

import html
import posixpath
import re
from urllib.parse import unquote, urlsplit

# Every attribute a browser fetches or follows, and CSS url()/@import (style attributes and
# <style> blocks alike). Namespaces (xmlns=) are names, not references, and are left alone.
NAMES = ("src", "href", "srcset", "imagesrcset", "data", "poster", "action", "formaction",
         "background", "xlink:href", "ping", "cite", "longdesc", "manifest")
_VALUE = r"""("[^"]*"|'[^']*'|[^\s"'>]+)"""
_CSS_VALUE = r"""("[^"]*"|'[^']*'|[^)]*)"""
# Found from their "=", "(" and "@": a regex that starts with a literal character jumps from
# one to the next, ten times faster than trying a name at every position. They look ahead
# for the value instead of consuming it, so every candidate is checked, also one inside
# another's value (tests/test_links.py: they find all a scan from every position finds).
# "name =" (a space before =) is rare and left to the scan from every position.
_ATTR = re.compile(r"""[\s"'](""" + "|".join(NAMES) + r""")\s*=\s*""" + _VALUE, re.I)
_ATTR_FAST = re.compile("=(?:" + "|".join(
    f"(?<={last}=)(?:" + "|".join(f"""(?<=[\\s"']{re.escape(n)}=)""" for n in NAMES
                                  if n[-1] == last) + ")"
    for last in dict.fromkeys(n[-1] for n in NAMES)) + r")(?=\s*" + _VALUE + ")", re.I)
_SPACED = re.compile(r"=(?<=\s=)")
_URL_FAST = re.compile(r"""\((?<=url\()(?=\s*""" + _CSS_VALUE + r"""\s*\))""", re.I)
_IMPORT_FAST = re.compile(r"""@(?=import\s+("[^"]*"|'[^']*'))""", re.I)
_REFRESH = re.compile(r"""<meta\b[^>]*http-equiv\s*=\s*["']?refresh[^>]*>""", re.I)
_REFRESH_URL = re.compile(r"""url\s*=\s*([^"'>;]+)""", re.I)
# Schemes that fetch nothing and name no host a browser would contact on its own.
SAFE_SCHEMES = ("data", "mailto", "tel")
_CONTROL = re.compile(r"[\x00-\x1f]+")   # dropped by browsers before reading a URL


def references(page: str) -> list[str]:
    """Every URL in `page` (HTML with inline CSS), entities decoded, in order."""
    found: list[str] = []
    attrs = [(m.start(), _attr_name(page, m.start()), m.group(1))
             for m in _ATTR_FAST.finditer(page)]
    if _SPACED.search(page):
        attrs += [(m.start(1), m.group(1), m.group(2)) for m in _ATTR.finditer(page)]
        attrs.sort()
    for _, name, value in attrs:
        value = html.unescape(value.strip("\"'"))
        if name.lower() in ("srcset", "imagesrcset"):
            found += [part.strip().split()[0] for part in value.split(",") if part.strip()]
        else:
            found.append(value)
    # style="background: url(&quot;…&quot;)": read once more with entities decoded
    for text in (page, html.unescape(page)) if "&" in page else (page,):
        css = [(m.start(), m.group(1)) for m in _URL_FAST.finditer(text)]
        css += [(m.start(), m.group(1)) for m in _IMPORT_FAST.finditer(text)]
        found += [url.strip().strip("\"'") for _, url in sorted(css)]
    for tag in _REFRESH.findall(page):
        found += _REFRESH_URL.findall(html.unescape(tag))
    return list(dict.fromkeys(u.strip() for u in found))


_LONGEST_FIRST = sorted(NAMES, key=len, reverse=True)


def _attr_name(page: str, equals: int) -> str:
    """The attribute name just before the "=" at `equals` (one of NAMES, lower case; "" for
    one that only re.I's Unicode folding matched, like ſrc, which the old scan kept as is)."""
    before = page[max(0, equals - 11):equals].lower()
    return next((n for n in _LONGEST_FIRST if before.endswith(n)), "")


def refused(page: str, location: str) -> list[str]:
    """The URLs of `page` that leave the site; `location` is the page's folder in the site
    (e.g. 'm/TOKEN'), so '../../assets/x.css' is inside and '../../../x' is not."""
    bad = []
    for url in references(page):
        if _outside(url, location):
            bad.append(url)
    return bad


def _outside(url: str, location: str) -> bool:
    clean = _CONTROL.sub("", url).replace("\\", "/")  # what browsers do
    if not clean or clean.startswith("#"):
        return False
    parts = urlsplit(clean)
    if parts.scheme:
        return parts.scheme.lower() not in SAFE_SCHEMES
    if parts.netloc or clean.startswith("//"):
        return True                      # //host/x: another host, whatever the scheme
    path = unquote(parts.path)
    if not path:
        return False
    if path.startswith("/"):
        target = posixpath.normpath(path.lstrip("/") or ".")
    else:
        target = posixpath.normpath(posixpath.join(location, path))
    return target == ".." or target.startswith("../") or target.startswith("/")
