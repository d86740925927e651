"""The brand portal: MkDocs Material over content/, pages generated from the program, the shell."""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from memberportal.core.models import Program
from memberportal.errors import BuildError, InputError, Where, warnings_of
from memberportal.inputs.config import language, read_config, site_url
from memberportal.layout import (
    CONFIG_FILE,
    CONTENT_DIR,
    MEMBERS_DIR,
    OUTPUT_DIR,
    PRIVATE_DIR,
    STATE_DIR,
)
from memberportal.render.colors import tier_palette
from memberportal.render.messages import discount, money
from memberportal.render.templates import quote_program, render
from memberportal.site.links import refused

CSS_FILE = "assets/memberportal.css"
# Scripts of the personal pages, copied as they are (not templates): the page template loads them.
SCRIPTS = {"assets/memberportal-qr.js": "portal/memberportal-qr.js",
           "assets/lean-qr.js": "portal/lean-qr.js"}
# Pages written from members/tiers.yml at every build: never hand-copied, never stale.
GENERATED = {"tiers.md": "portal/tiers.md.j2", "points.md": "portal/points.md.j2",
             "join.md": "portal/join.md.j2"}
SHELL_DOC = f"{PRIVATE_DIR}/shell.md"  # built by MkDocs at m/shell/, the depth of m/<token>/
SHELL_PAGE = f"{PRIVATE_DIR}/shell/index.html"
MARKER = "MEMBERPORTAL-MEMBER-PAGE"
_MARKER_RE = re.compile(r"<h1[^>]*>\s*" + MARKER + r"\s*</h1>")
_CANONICAL_RE = re.compile(r'\s*<link rel="canonical"[^>]*>')
# What a browser fetches on its own (not links a reader may follow): those must stay home.
_LOAD_RE = re.compile(r'<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?'
                      r'\b(?:src|href|srcset|data)\s*=\s*["\']([^"\']+)["\']', re.I)
# Whitespace between tags with a line break in it: MkDocs templates indent deeply, and a run
# of it renders as one space (or nothing) like a single line break does. Not inside elements
# whose text keeps its white space.
_INDENT_RE = re.compile(r"[ \t\r\n]*\n[ \t\r\n]*")
_VERBATIM_RE = re.compile(r"(<(pre|textarea|script|style)\b.*?</\2\s*>)", re.I | re.S)
PRIVATE_META = ('<meta name="robots" content="noindex,nofollow">'
                '<meta name="referrer" content="no-referrer">')


@dataclass(frozen=True)
class Shell:
    """The portal's page around a personal page: everything before and after its content."""

    head: str
    tail: str

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.head + "\0" + self.tail).encode()).hexdigest()

    def wrap(self, body: str) -> str:
        return self.head + body + self.tail


@dataclass(frozen=True)
class Portal:
    shell: Shell
    site_url: str
    lang: str
    warnings: tuple[str, ...]


def build_portal(root: Path, program: Program, env: jinja2.Environment, site_dir: Path,
                 strict: bool = False) -> Portal:
    """Run MkDocs into `site_dir` (which it empties) and cut the member-page shell out of it."""
    url, lang = site_url(root), language(root)
    with tempfile.TemporaryDirectory(prefix=".docs-", dir=site_dir.parent) as tmp:
        docs = Path(tmp) / "docs"
        _write_docs(root, program, env, docs, lang)
        warnings = _run_mkdocs(root, docs, site_dir, strict, program.brand.name)
    shell = _extract_shell(site_dir)
    _brand_not_found(site_dir, env, program)
    _clean_sitemap(site_dir, url)
    _clean_search_index(site_dir)
    return Portal(shell, url, lang, tuple(warnings))


def _write_docs(root: Path, program: Program, env: jinja2.Environment, docs: Path,
                lang: str) -> None:
    content = root / CONTENT_DIR
    if content.is_dir():
        _copy_content(root, docs)
        _quote_program(docs, program, lang)
    else:
        docs.mkdir(parents=True)

    def amount(value) -> str:  # a tier threshold, in money or in points
        if program.qualification.basis == "points":
            return f"{int(value):,}"
        return money(value, program.currency_symbol)

    ctx = {"program": program, "brand": program.brand, "amount": amount,
           "discount": lambda percent: discount(percent, lang),
           "palettes": {t.id: tier_palette(t.color) for t in program.tiers},
           "brand_palette": tier_palette(program.brand.color)}
    made = {**GENERATED, SHELL_DOC: "portal/shell.md.j2", CSS_FILE: "portal/memberportal.css.j2"}
    for name, template in {**made, **SCRIPTS}.items():
        target = docs / name
        if target.exists():
            source = "members/tiers.yml" if name in GENERATED else f"templates/{template}"
            raise InputError(f"{CONTENT_DIR}/{name} would be overwritten by the file generated "
                             f"from {source}; rename or remove it", Where(f"{CONTENT_DIR}/{name}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        text = render(env, template, marker=Markup(MARKER), **ctx) if name in made else \
            env.loader.get_source(env, template)[0]
        target.write_text(text, encoding="utf-8")


def _copy_content(root: Path, docs: Path) -> None:
    """content/ into MkDocs' docs folder, never through a link out of it: a link in content/ to
    .memberportal/secret, members/ or output/staff would be published. A link to a file inside
    content/ is copied as that file; a link to a folder, a broken link, a link out of
    content/, anything but a file or folder, or a hard link (a file with more than one name,
    wherever the others are) is refused."""
    content = root / CONTENT_DIR
    if content.is_symlink():  # content/ -> / would publish the whole disk
        raise InputError(f"{CONTENT_DIR}/ is a link to {os.path.realpath(content)}; make it a "
                         "folder of the project", Where(CONTENT_DIR))
    inside = os.path.realpath(content)
    refused, private = [], None
    for folder, dirs, files in os.walk(content):  # does not descend into linked folders
        here = Path(folder)
        target_dir = docs / here.relative_to(content)
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(dirs + files):
            path = here / name
            shown = path.relative_to(root).as_posix()
            if path.is_symlink():
                real = os.path.realpath(path)
                if not real.startswith(inside + os.sep) or os.path.isdir(real):
                    refused.append(f"{shown} is a link to {real}" + (
                        ", a folder" if os.path.isdir(real) else ", outside content/"))
                    continue
                if not os.path.isfile(real):
                    refused.append(f"{shown} is a link to {real}, not a file")
                    continue
            st = path.stat()
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                refused.append(f"{shown} is not a file (a FIFO, socket or device)")
                continue
            if st.st_nlink > 1:  # its other names cannot be listed cheaply: refuse them all
                private = _private_files(root) if private is None else private
                other = private.get((st.st_dev, st.st_ino))
                refused.append(f"{shown} is a hard link to {other}" if other else
                               f"{shown} is a hard link ({st.st_nlink} names for one file); "
                               "make it a copy of its own (cp, not ln)")
                continue
            shutil.copy2(path, target_dir / name)
    if refused:
        raise InputError(f"{CONTENT_DIR}/ may hold only its own files and folders; refused: "
                         + "; ".join(refused), Where(CONTENT_DIR))


def _private_files(root: Path) -> dict[tuple[int, int], str]:
    """Device and inode of every file in the folders that must never be published."""
    found = {}
    for name in (STATE_DIR, MEMBERS_DIR, OUTPUT_DIR):
        for folder, _, files in os.walk(root / name):
            for f in files:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(folder, f))
                    found[st.st_dev, st.st_ino] = os.path.relpath(os.path.join(folder, f), root)
    return found


def _quote_program(docs: Path, program: Program, lang: str) -> None:
    """The brand's Markdown may quote the program (quote_program), so no number is typed
    twice."""
    for path in sorted(docs.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if "{{" not in text and "{%" not in text:
            continue
        shown = f"{CONTENT_DIR}/{path.relative_to(docs).as_posix()}"
        path.write_text(quote_program(text, program, lang, shown), encoding="utf-8")


def _run_mkdocs(root: Path, docs: Path, site_dir: Path, strict: bool,
                brand_name: str) -> list[str]:
    from mkdocs import exceptions
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    with contextlib.suppress(ImportError):  # jieba segments Chinese for search; quiet it
        import jieba
        jieba.setLogLevel(logging.WARNING)
    with warnings_of("mkdocs", quiet=True) as warned:
        try:
            named = {} if read_config(root).get("site_name") else {"site_name": brand_name}
            cfg = load_config(str(root / CONFIG_FILE), docs_dir=str(docs),
                              site_dir=str(site_dir), **named)
        except exceptions.ConfigurationError as e:
            raise InputError(str(e).strip(), Where(CONFIG_FILE)) from None
        if CSS_FILE not in cfg.extra_css:
            cfg.extra_css.insert(0, CSS_FILE)
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        except (exceptions.MkDocsException, OSError) as e:
            raise BuildError(f"mkdocs: {e}", kind="portal") from None
        finally:
            cfg.plugins.on_shutdown()
    if strict and warned:
        raise BuildError("mkdocs warned (strict build):\n  " + "\n  ".join(warned),
                         kind="portal")
    return warned


def _extract_shell(site_dir: Path) -> Shell:
    page = site_dir / SHELL_PAGE
    html = page.read_text(encoding="utf-8")
    shutil.rmtree(page.parent)
    parts = _MARKER_RE.split(html)
    if len(parts) != 2:
        raise BuildError(f"the shell page has {len(parts) - 1} markers, expected one "
                         "(a theme override dropped page.content?)", kind="portal")
    head, tail = (_squeeze(part) for part in parts)
    head = _CANONICAL_RE.sub("", head)  # a private page names no public address
    head = head.replace("<head>", "<head>" + PRIVATE_META, 1)
    if PRIVATE_META not in head:
        raise BuildError("the shell page has no <head>", kind="portal")
    foreign = sorted({u for u in _LOAD_RE.findall(head + tail) if _is_foreign(u)})
    if foreign:
        raise BuildError("the portal theme loads from other hosts, which personal pages must "
                         "never do: " + ", ".join(foreign) + " (set theme.font: false, no "
                         "analytics, no CDN scripts in mkdocs.yml)", kind="portal")
    leaving = refused(head + tail, f"{PRIVATE_DIR}/shell")
    if leaving:  # links too (a footer's social links): a personal page points nowhere else
        raise BuildError("the page around personal pages (theme, mkdocs.yml extra) links to "
                         + ", ".join(leaving) + "; personal pages name no other host "
                         "(in mkdocs.yml: extra.generator: false, "
                         "no extra.social, no repo_url)", kind="portal")
    return Shell(head, tail)


NOT_FOUND_TEMPLATE = "portal/not_found.html"
_NOT_FOUND_H1 = re.compile(r"<h1[^>]*>\s*404 - [^<]*</h1>")


def _brand_not_found(site_dir: Path, env: jinja2.Environment, program: Program) -> None:
    """404.html in the program's words: an old (rotated) personal-page address lands here, so
    it says how to get a new one; the theme's page around it stays."""
    page = site_dir / "404.html"
    if not page.is_file():
        return
    html = page.read_text(encoding="utf-8")
    body = render(env, NOT_FOUND_TEMPLATE, brand=program.brand)
    new, n = _NOT_FOUND_H1.subn(lambda _: body, html, count=1)
    if n:
        page.write_text(new, encoding="utf-8")


def _squeeze(html: str) -> str:
    """`html` with every indented line break made one line break (a quarter of the shell,
    sent with every personal page): the same page in a browser."""
    chunks = _VERBATIM_RE.split(html)
    # split() gives text, element, tag name, text, ...: squeeze the text only
    return "".join(_INDENT_RE.sub("\n", c) if i % 3 == 0 else c if i % 3 == 1 else ""
                   for i, c in enumerate(chunks))


def _is_foreign(link: str) -> bool:
    """Any absolute address: on a preview or another mirror even site_url is another host."""
    return bool(urlsplit(link).netloc)


def _clean_sitemap(site_dir: Path, url: str) -> None:
    """Drop every address under m/ from sitemap.xml and its .gz twin."""
    path = site_dir / "sitemap.xml"
    if not path.is_file():
        return
    ns = "http://www.sitemaps.org/schemas/sitemap/0.9"
    ET.register_namespace("", ns)
    tree = ET.parse(path)
    urlset = tree.getroot()
    private = url + PRIVATE_DIR + "/"
    for entry in list(urlset):
        loc = entry.findtext(f"{{{ns}}}loc") or ""
        if loc.startswith(private) or urlsplit(loc).path.startswith(f"/{PRIVATE_DIR}/"):
            urlset.remove(entry)
    data = ET.tostring(urlset, encoding="utf-8", xml_declaration=True)
    path.write_bytes(data)
    gz = site_dir / "sitemap.xml.gz"
    if gz.exists():
        with gzip.GzipFile(gz, "wb", mtime=0) as f:
            f.write(data)


def _clean_search_index(site_dir: Path) -> None:
    """The shell is excluded by front matter; this makes sure, whatever a theme does."""
    path = site_dir / "search" / "search_index.json"
    if not path.is_file():
        return
    index = json.loads(path.read_text(encoding="utf-8"))
    docs = index.get("docs", [])
    kept = [d for d in docs if not d.get("location", "").startswith(f"{PRIVATE_DIR}/")]
    if len(kept) != len(docs):
        index["docs"] = kept
        path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")),
                        encoding="utf-8")
