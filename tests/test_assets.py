"""Images under templates/ and content/: huge, truncated, EPS or scripted files are refused by name."""
from __future__ import annotations

import io
import struct
import zlib
from datetime import date

import pytest
from click.testing import CliRunner
from helpers import PRINT_SECRET, portal_project, print_project

from memberportal.cli import cli
from memberportal.inputs.assets import check_assets, check_image, image_files
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.site.build import run

AS_OF = date(2026, 11, 24)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(side: int = 14000) -> bytes:
    """A valid, complete 1-bit PNG of side × side pixels (about 25 kB on disk)."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    pixels = zlib.compress(row * side, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0,
                                                                0, 0))
            + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))


def small(fmt: str, size=(64, 48)) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, (47, 125, 109)).save(out, fmt)
    return out.getvalue()


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
       b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")
GOOD_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            b'viewBox="0 0 10 10"><defs><path id="p" d="M0 0h10v10z"/></defs>'
            b'<use xlink:href="#p" fill="#2f7d6d"/></svg>')
BAD_SVGS = {
    "script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "handler": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "external image": b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org'
                      b'/1999/xlink"><image xlink:href="http://169.254.169.254/x.png"/></svg>',
    "file reference": b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"'
                      b'/></svg>',
    "css import": b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://x.example'
                  b'/a.css);</style></svg>',
    "css url": b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url(https://x.example'
               b'/p.svg#g)"/></svg>',
    "foreign object": b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><iframe '
                      b'xmlns="http://www.w3.org/1999/xhtml" src="https://x.example"/>'
                      b'</foreignObject></svg>',
    "entity": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaa">]>'
              b'<svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
}


def test_each_kind_of_bad_image_is_refused_with_a_reason(tmp_path):
    cases = {
        "huge.png": (huge_png(), "14000×14000 pixels is too large"),
        "cut.png": (small("PNG")[:-30], "truncated or damaged"),
        "cut.jpg": (small("JPEG", (400, 300))[:600], "truncated or damaged"),
        "logo.eps": (EPS, "EPS files are not allowed"),
        "disguised.png": (EPS, "holds a EPS image under a .png name"),
        "photo.jpg": (small("PNG"), "holds a PNG image under a .jpg name"),
        "anim.gif": (small("GIF"), "GIF files are not allowed"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        problem = check_image(path)
        assert problem and reason in problem, (name, problem)
    for name, data in BAD_SVGS.items():
        path = tmp_path / "x.svg"
        path.write_bytes(data)
        assert check_image(path), name
    for name, data in {"ok.png": small("PNG"), "ok.jpg": small("JPEG"), "ok.webp": small("WEBP"),
                       "ok.svg": GOOD_SVG}.items():
        (tmp_path / name).write_bytes(data)
        assert check_image(tmp_path / name) is None, name


def test_built_in_templates_pass_their_own_check():
    assert check_assets(BUILTIN_TEMPLATES.parent) >= 0  # never raises on what we ship


def test_build_refuses_bad_images_by_file_before_rendering_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    run(root, AS_OF, show_progress=False)
    before = sorted(p.relative_to(root) for p in (root / "output" / "site").rglob("*"))
    (root / "content" / "images").mkdir()
    (root / "content" / "images" / "banner.png").write_bytes(huge_png())
    (root / "content" / "images" / "old-logo.eps").write_bytes(EPS)
    (root / "templates" / "member").mkdir(parents=True)
    (root / "templates" / "member" / "badge.png").write_bytes(small("PNG")[:-30])
    (root / "content" / "images" / "fine.webp").write_bytes(small("WEBP"))
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "build",
                                      "--no-progress"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("content/images/banner.png, image:") and "too large" in line
               for line in lines), result.output
    assert any(line.startswith("content/images/old-logo.eps, image:") for line in lines)
    assert any(line.startswith("templates/member/badge.png, image:") for line in lines)
    assert "fine.webp" not in result.output and "3 errors found" in result.output
    assert sorted(p.relative_to(root) for p in (root / "output" / "site").rglob("*")) == before


def test_print_commands_check_images_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    (root / "templates" / "print").mkdir(parents=True)
    (root / "templates" / "print" / "logo.svg").write_bytes(BAD_SVGS["script"])
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", "cards"])
    assert result.exit_code == 1
    assert "templates/print/logo.svg, image: SVG with a <script> element" in result.output
    assert not (root / "output" / "print").exists()
    assert image_files(root) == [root / "templates" / "print" / "logo.svg"]


def test_a_pdf_never_loads_a_file_the_image_check_cannot_see(tmp_path, monkeypatch):
    """The check goes by file name; a file with no image suffix is refused by the fetcher."""
    from memberportal.errors import MemberPortalError
    from memberportal.inputs.project import load
    from memberportal.print import contexts, inserts
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    folder = root / "templates" / "print"
    folder.mkdir(parents=True)
    (folder / "logo").write_bytes(EPS)
    (folder / "insert.html").write_text('<html><body><img src="logo">{% for p in inserts %}'
                                        "<p>{{ p.order }}</p>{% endfor %}</body></html>")
    project = load(root)
    job = contexts.make_job(project, AS_OF, "zh", PRINT_SECRET)
    with pytest.raises(MemberPortalError, match=r"templates/print/logo \(not a \.css"):
        inserts.build_inserts(job, project, contexts.read_parcels(root / "parcels.csv", project),
                             root / "out.pdf", workers=1)
    assert not (root / "out.pdf").exists()
