"""What a rendered page may reference: files inside the site, never another host or scheme."""
from __future__ import annotations

import html
import posixpath
import re
from urllib.parse import unquote, urlsplit

# Every attribute a browser fetches or follows, and CSS url()/@import (style attributes and
# <style> blocks alike). Namespaces (xmlns=) are names, not references, and are left alone.
_ATTR = re.compile(r"""[\s"'](src|href|srcset|imagesrcset|data|poster|action|formaction|"""
                   r"""background|xlink:href|ping|cite|longdesc|manifest)\s*=\s*"""
                   r"""("[^"]*"|'[^']*'|[^\s"'>]+)""", re.I)
_CSS = re.compile(r"""url\(\s*("[^"]*"|'[^']*'|[^)]*)\s*\)|@import\s+("[^"]*"|'[^']*')""",
                  re.I)
_REFRESH = re.compile(r"""<meta\b[^>]*http-equiv\s*=\s*["']?refresh[^>]*>""", re.I)
_REFRESH_URL = re.compile(r"""url\s*=\s*([^"'>;]+)""", re.I)
# Schemes that fetch nothing and name no host a browser would contact on its own.
SAFE_SCHEMES = ("data", "mailto", "tel")


def references(page: str) -> list[str]:
    """Every URL in `page` (HTML with inline CSS), entities decoded, in order."""
    found: list[str] = []
    for name, value in _ATTR.findall(page):
        value = html.unescape(value.strip("\"'"))
        if name.lower() in ("srcset", "imagesrcset"):
            found += [part.strip().split()[0] for part in value.split(",") if part.strip()]
        else:
            found.append(value)
    for text in (page, html.unescape(page)):  # style="background: url(&quot;…&quot;)"
        for url, imported in _CSS.findall(text):
            found.append((url or imported).strip().strip("\"'"))
    for tag in _REFRESH.findall(page):
        found += _REFRESH_URL.findall(html.unescape(tag))
    return list(dict.fromkeys(u.strip() for u in found))


def refused(page: str, location: str) -> list[str]:
    """The URLs of `page` that leave the site; `location` is the page's folder in the site
    (e.g. 'm/TOKEN'), so '../../assets/x.css' is inside and '../../../x' is not."""
    bad = []
    for url in references(page):
        if _outside(url, location):
            bad.append(url)
    return bad


def _outside(url: str, location: str) -> bool:
    clean = "".join(ch for ch in url if ch >= " ").replace("\\", "/")  # what browsers do
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
