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
    for css in _css_texts(page):
        found += css_urls(css)
    return list(dict.fromkeys(u.strip() for u in found))


# The CSS and script of a page as the HTML tokenizer sees it: <style> and <script> are raw
# text up to their end tag, attribute values are entity-decoded. Found by these patterns and
# not by html.parser, which costs twenty times the whole check on a personal page; they find
# a superset (a style= inside another attribute's value is read too, which can only refuse).
_STYLE_BODY = re.compile(r"<style\b[^>]*>(.*?)(?:</style[\s/>]|\Z)", re.I | re.S)
_STYLE_ATTR = re.compile(r"""[\s"'/]style\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_STYLE_OPEN = re.compile(r"<(?<=<)[sS][tT][yY][lL][eE]")
_STYLE_ATTR_FAST = re.compile(r"""=(?<=[\s"'/][sS][tT][yY][lL][eE]=)("[^"]*"|'[^']*'|[^\s>]+)""")
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)(?:</script[\s/>]|\Z)", re.I | re.S)
_SCRIPT_TYPE = re.compile(r"""\btype\s*=\s*["']?([^"'\s>]*)""", re.I)
_HANDLER = re.compile(r"""[\s"'/][oO][nN][a-zA-Z]+\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_JS_TYPES = ("", "module", "text/javascript", "application/javascript", "text/ecmascript")
# CSS functions whose string arguments a browser loads (url() itself is a URL token).
_LOADING_FUNCTIONS = ("url", "src", "image", "image-set", "-webkit-image-set", "cross-fade",
                      "-webkit-cross-fade")


def _css_texts(page: str) -> list[str]:
    texts = _STYLE_BODY.findall(page) if _STYLE_OPEN.search(page) else []
    attrs = _STYLE_ATTR if _SPACED.search(page) else _STYLE_ATTR_FAST
    texts += [html.unescape(v.strip("\"'")) for v in attrs.findall(page)]
    return texts


def css_urls(css: str) -> list[str]:
    """Every address CSS loads, read by a CSS tokenizer (tinycss2): escapes decoded
    (url(\\68 ttp://x) is http://x), url(), image-set(), src() and @import with a string."""
    if "(" not in css and "@" not in css:
        return []  # nothing loads without a function, url( or @import, escapes or not
    import tinycss2

    found: list[str] = []

    def walk(tokens) -> None:
        after_import = False
        for token in tokens:
            kind = token.type
            if kind == "url":
                found.append(token.value)
            elif kind == "at-keyword":
                after_import = token.lower_value == "import"
                continue
            elif kind == "string" and after_import:
                found.append(token.value)
            elif kind == "function":
                if token.lower_name in _LOADING_FUNCTIONS:
                    found.extend(t.value for t in token.arguments if t.type == "string")
                walk(token.arguments)
            elif kind in ("() block", "[] block", "{} block"):
                walk(token.content)
            if kind not in ("whitespace", "comment"):
                after_import = False

    walk(tinycss2.parse_component_value_list(css))
    return found


# What a script uses to reach the network; an inline script (or an on*= handler) on a
# personal page needs none of them, so each one found is refused with any address it names.
_NETWORK = re.compile(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|sendBeacon|importScripts|"
                      r"Worker|SharedWorker|RTCPeerConnection|import)\s*\(|"
                      r"\b(XMLHttpRequest|WebSocket|EventSource|sendBeacon)\b")
_JS_ADDRESS = re.compile(r"""\b[a-z][a-z0-9+.-]*://[^\s"'`)\\]+|(?<=["'`])//[^\s"'`)\\]+""",
                         re.I)


def script_uses(page: str) -> list[str]:
    """The network calls and the addresses with a host in the page's inline scripts and event
    handlers (a script's own src= is an attribute, checked with the others)."""
    bodies = [body for attrs, body in _SCRIPT.findall(page)
              if (m := _SCRIPT_TYPE.search(attrs)) is None or m.group(1).lower() in _JS_TYPES]
    bodies += [html.unescape(v.strip("\"'")) for v in _HANDLER.findall(page)]
    found: list[str] = []
    for body in bodies:
        found += [f"{a or b}( in an inline script" if a else f"{b} in an inline script"
                  for a, b in _NETWORK.findall(body)]
        found += _JS_ADDRESS.findall(body)
    return list(dict.fromkeys(found))


_LONGEST_FIRST = sorted(NAMES, key=len, reverse=True)


def _attr_name(page: str, equals: int) -> str:
    """The attribute name just before the "=" at `equals` (one of NAMES, lower case; "" for
    one that only re.I's Unicode folding matched, like ſrc, which the old scan kept as is)."""
    before = page[max(0, equals - 11):equals].lower()
    return next((n for n in _LONGEST_FIRST if before.endswith(n)), "")


def refused(page: str, location: str) -> list[str]:
    """The URLs of `page` that leave the site; `location` is the page's folder in the site
    (e.g. 'm/TOKEN'), so '../../assets/x.css' is inside and '../../../x' is not."""
    bad = [url for url in references(page) if _outside(url, location)]
    bad += script_uses(page)
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
