"""The images of a project (templates/, content/): formats, a pixel cap, whole files, clean SVG.

They are checked before anything renders (the `assets` build stage, and before every print
job): the portal publishes content/ as it is and the print templates may load any file under
templates/ and content/, so one bad file there reaches every page or every printed sheet.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from memberportal.errors import InputError, MemberPortalError, Told, ValidationFailed, Where
from memberportal.layout import rel

ASSET_DIRS = ("templates", "content")
MAX_PIXELS = 40_000_000          # 8000 × 5000: more than an A3 photo at 300 dpi needs
# What each allowed suffix must really hold (Pillow's format name); SVG is checked as XML.
RASTER = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
VECTOR = {".svg"}
# Image files we recognise and refuse: EPS/PS run PostScript, the others are not for the web
# or for print templates here (convert them to PNG, JPEG, WebP or SVG).
REFUSED = {".eps", ".epsf", ".epsi", ".ps", ".ai", ".gif", ".bmp", ".tif", ".tiff", ".psd",
           ".ico", ".heic", ".heif", ".avif", ".jp2", ".jxl", ".pcx", ".tga", ".xbm", ".xpm"}
_SVG_BANNED = {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)|@import", re.I)


def image_files(root: Path) -> list[Path]:
    """Every file under templates/ and content/ whose name says it is an image."""
    found = []
    for folder in ASSET_DIRS:
        base = root / folder
        if base.is_dir():
            found += [p for p in base.rglob("*")
                      if p.suffix.lower() in RASTER.keys() | VECTOR | REFUSED and p.is_file()]
    return sorted(found)


def check_assets(root: Path) -> int:
    """Check every image; all problems are reported together. Returns how many were checked."""
    files = image_files(root)
    errors: list[MemberPortalError] = []
    for path in files:
        problem = check_image(path)
        if problem:
            errors.append(InputError(problem, Where(rel(path, root)), kind="image",
                                     said=getattr(problem, "said", None)))
    if errors:
        raise ValidationFailed(errors)
    return len(files)


def check_image(path: Path) -> Told | None:
    """What is wrong with one image file, or None."""
    suffix = path.suffix.lower()
    if suffix in REFUSED:
        return Told("image.refused", kind=suffix[1:].upper())
    if suffix in VECTOR:
        return check_svg(path)
    return _check_raster(path, RASTER[suffix])


def _check_raster(path: Path, expected: str) -> Told | None:
    from PIL import Image
    cap = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own cap below, with the size in the message
    try:
        with Image.open(path) as im:
            if im.format != expected:
                return Told("image.misnamed", format=im.format, suffix=path.suffix)
            width, height = im.size
            if width * height > MAX_PIXELS:
                return _too_big(width, height)
            im.verify()                   # structure and checksums
        with Image.open(path) as im:
            im.load()                     # every pixel decodes: catches a cut-off file
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's words for a broken file
        return Told("image.damaged", why=str(e))
    finally:
        Image.MAX_IMAGE_PIXELS = cap
    return None


def _too_big(width: int, height: int) -> Told:
    return Told("image.too_big", width=width, height=height, max=f"{MAX_PIXELS:,}")


def check_svg(path: Path) -> Told | None:
    """No scripts, no event handlers, no references outside the file itself."""
    text = path.read_bytes()
    if b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        return Told("image.svg_doctype")
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as e:
        return Told("image.svg_broken", why=str(e))
    if _local(tree.tag) != "svg":
        return Told("image.not_svg", root=_local(tree.tag))
    for el in tree.iter():
        tag = _local(el.tag).lower()
        if tag in _SVG_BANNED:
            return Told("image.svg_element", element=_local(el.tag))
        for name, value in el.attrib.items():
            attr = _local(name).lower()
            if attr.startswith("on"):
                return Told("image.svg_handler", handler=_local(name))
            if attr in ("href", "src") and not _internal(value):
                return Told("image.svg_reference", target=value)
            if attr == "style" and _external_css(value):
                return Told("image.svg_style", target=_external_css(value))
        if tag == "style" and _external_css(el.text or ""):
            return Told("image.svg_style", target=_external_css(el.text or ""))
    return None


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _internal(value: str) -> bool:
    v = value.strip()
    return v.startswith("#") or v.lower().startswith("data:image/") and "svg" not in v[:20]


def _external_css(css: str) -> str | None:
    for m in _CSS_URL.finditer(css):
        target = m.group(1)
        if target is None:
            return "@import"
        if not target.startswith("#"):
            return f"url({target})"
    return None
