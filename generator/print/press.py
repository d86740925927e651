"""Print profiles: office (the RGB PDF as rendered), press (PDF/X-4: CMYK, boxes, marks, slug)."""
from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from memberportal.errors import BuildError
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print.weasy import MM

PROFILES = ("office", "press")
ICC = Path(__file__).parent / "icc" / "FOGRA39L-coated.icc"
CONDITION = "FOGRA39"          # the characterisation the profile is made from (ICC registry)
CONDITION_INFO = "Coated FOGRA39 (ISO 12647-2:2004/Amd 1, paper type 1/2, offset)"
SLUG = 12.0                    # mm of media outside the bleed: crop marks, then the slug line
MARK_GAP, MARK_LENGTH = 1.0, 5.0   # mm: marks start this far outside the bleed, this long
SLUG_FONT = "print-sans-regular.otf"
_RGB_SPACES = {"/DeviceRGB", "/RGB", "/CalRGB"}


@dataclass
class Press:
    """What a press job needs besides the PDF: its name (for the slug), the day it is made
    (the file's dates: no clock), colours given in CMYK ('#rrggbb' -> four 0..1 values), the
    fonts folder (the slug's font) and whether to draw crop marks."""

    job: str
    day: date
    given: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    fonts: Path | None = None
    marks: bool = True
    imposed: bool = False       # sheets made by impose.nup: boxes and marks are there already
    sheet: tuple | None = None  # a template's sheet: ((w, h), trim, bleed) mm, top-left origin


def press_for(job, project, name: str, marks: bool = True, imposed: bool = False,
              sheet: tuple | None = None) -> Press:
    """The press settings of a print job of `project` (contexts.Job `job`) written as `name`;
    `sheet`: for sheets laid out by a template, (sheet, trim, bleed) in mm from the top left."""
    fonts = next((f for f in (job.root / "templates" / "fonts", BUILTIN_TEMPLATES / "fonts")
                  if (f / SLUG_FONT).is_file()), None)
    return Press(name, job.as_of, given_inks(project.program), fonts, marks, imposed, sheet)


def given_inks(program) -> dict[str, tuple[float, float, float, float]]:
    """The colours tiers.yml gives in CMYK (brand.cmyk, a tier's cmyk), by their RGB colour."""
    out = {}
    for thing in [program.brand, *program.tiers]:
        cmyk = getattr(thing, "cmyk", None)
        if cmyk is not None:
            out[thing.color.lower()] = tuple(float(v) / 100 for v in cmyk)
    return out


# --- colour: sRGB to the press condition's CMYK -----------------------------------------------


class Inks:
    """RGB colours (0..1) as CMYK of the output profile, each worked out once.

    Chromatic colours go through the ICC profile (sRGB to FOGRA39, relative colorimetric with
    black point compensation, by LittleCMS in Pillow). Neutral greys (r = g = b, text above
    all) become black ink alone, of the profile's lightness for that grey: a rich black of
    four inks would blur small text when the plates do not register exactly. Colours that
    tiers.yml gives in CMYK are used as given."""

    def __init__(self, given: dict[str, tuple[float, float, float, float]] | None = None):
        self.given = {k.lower(): v for k, v in (given or {}).items()}
        self._done: dict[tuple[int, int, int], tuple[float, ...]] = {}

    def cmyk(self, r: float, g: float, b: float) -> tuple[float, float, float, float]:
        key = tuple(min(255, max(0, round(float(v) * 255))) for v in (r, g, b))
        done = self._done.get(key)
        if done is None:
            done = self._done[key] = self._convert(key)
        return done

    def _convert(self, rgb: tuple[int, int, int]) -> tuple[float, float, float, float]:
        given = self.given.get("#%02x%02x%02x" % rgb)
        if given is not None:
            return given
        if rgb[0] == rgb[1] == rgb[2]:
            return (0.0, 0.0, 0.0, _black_for(rgb[0]))
        return tuple(round(v / 255, 4) for v in _transform_rgb(rgb))


@lru_cache(maxsize=1)
def _cached_transforms():
    from PIL import ImageCms
    srgb, press = ImageCms.createProfile("sRGB"), ImageCms.getOpenProfile(str(ICC))
    lab = ImageCms.createProfile("LAB", 5000)
    bpc = ImageCms.Flags.BLACKPOINTCOMPENSATION
    relative = ImageCms.Intent.RELATIVE_COLORIMETRIC
    return (ImageCms.buildTransform(srgb, press, "RGB", "CMYK", relative, bpc),
            ImageCms.buildTransform(srgb, lab, "RGB", "LAB", relative),
            ImageCms.buildTransform(press, lab, "CMYK", "LAB", relative))


def _transform_rgb(rgb: tuple[int, int, int]) -> tuple[int, int, int, int]:
    from PIL import Image, ImageCms
    im = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), _cached_transforms()[0])
    return im.getpixel((0, 0))


@lru_cache(maxsize=256)
def _black_for(grey: int) -> float:
    """Black ink alone (0..1) whose lightness on the press is the sRGB grey's (L* matched)."""
    if grey >= 255:
        return 0.0
    lightness = _k_ramp()
    from PIL import Image, ImageCms
    want = ImageCms.applyTransform(Image.new("RGB", (1, 1), (grey,) * 3),
                                   _cached_transforms()[1]).getpixel((0, 0))[0]
    # the ramp falls from paper (k = 0) to solid black (k = 1); past solid, black
    for (k0, l0), (k1, l1) in zip(lightness, lightness[1:]):
        if l1 <= want <= l0:
            t = 0 if l0 == l1 else (l0 - want) / (l0 - l1)
            return round(k0 + t * (k1 - k0), 4)
    return 1.0 if want < lightness[-1][1] else 0.0


@lru_cache(maxsize=1)
def _k_ramp() -> list[tuple[float, int]]:
    from PIL import Image, ImageCms
    steps = 64
    im = Image.new("CMYK", (steps + 1, 1))
    for i in range(steps + 1):
        im.putpixel((i, 0), (0, 0, 0, round(255 * i / steps)))
    lab = ImageCms.applyTransform(im, _cached_transforms()[2])
    return [(i / steps, lab.getpixel((i, 0))[0]) for i in range(steps + 1)]


def _num(v: float) -> str:
    text = f"{v:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


# --- the press PDF ----------------------------------------------------------------------------


def to_press(data: bytes, press: Press) -> bytes:
    """The office PDF as the press profile makes it: every colour in CMYK, the output intent,
    PDF/X-4 identification, trim and bleed boxes inside a larger media box with crop marks
    outside the bleed and a slug line (job, sheet n/N)."""
    import pikepdf
    pdf = pikepdf.open(io.BytesIO(data))
    converter = _Converter(pdf, Inks(press.given))
    pages = list(pdf.pages)
    for page in pages:
        converter.page(page.obj)
    slug_font = _SlugFont(pdf, press.fonts) if press.fonts else None
    shared: dict = {}     # the q and Q streams, and the marks of each page geometry: once
    for n, page in enumerate(pages, 1):
        _boxes_and_marks(pdf, page.obj, press, f"{press.job}  {n}/{len(pages)}", slug_font,
                         shared)
    if slug_font:
        slug_font.embed()
    _identify(pdf, press)
    out = io.BytesIO()
    pdf.save(out, min_version="1.6", object_stream_mode=pikepdf.ObjectStreamMode.generate,
             deterministic_id=True)
    return out.getvalue()


class _Converter:
    """Rewrites content streams, images, shadings and groups of a PDF from RGB to CMYK,
    each object once (shared forms and images are many pages' own)."""

    def __init__(self, pdf, inks: Inks):
        self.pdf, self.inks = pdf, inks
        self.done: set[tuple[int, int]] = set()
        self._bytes: dict[tuple, bytes] = {}

    def _once(self, obj) -> bool:
        key = obj.objgen
        if key == (0, 0):
            return True
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def page(self, page) -> None:
        import pikepdf
        resources = page.get("/Resources")
        self._group(page, mask=False)
        contents = page.get("/Contents")
        streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
        for stream in streams:     # a background layer's stream is every page's: once
            if stream is not None and self._once(stream):
                self._content(stream, resources)
        self._resources(resources)

    def _group(self, obj, mask: bool) -> None:
        import pikepdf
        group = obj.get("/Group")
        if group is not None and _is_rgb_space(group.get("/CS")):
            # a soft mask's group computes luminosity only: grey gives the same mask
            group.CS = pikepdf.Name.DeviceGray if mask else pikepdf.Name.DeviceCMYK

    def _content(self, holder, resources) -> None:
        import pikepdf
        raw = holder.read_bytes()
        if _plain(raw):     # most streams: only rg/RG to rewrite, no parsing needed
            parts, last = [], 0
            for start, end, operands, op in _rg_ops(raw):
                parts += [raw[last:start], self._written(operands, op)]
                last = end
            if parts:
                holder.write(b"".join(parts) + raw[last:])
            return
        ops = pikepdf.parse_content_stream(holder)
        out, changed = [], False
        fill = stroke = False           # the current colour space is RGB
        stack: list[tuple[bool, bool]] = []
        spaces = resources.get("/ColorSpace") if resources is not None else None
        for operands, op in ops:
            o = str(op)
            if o in ("rg", "RG") and len(operands) == 3:
                c = self.inks.cmyk(*map(float, operands))
                out.append(([*c], pikepdf.Operator("k" if o == "rg" else "K")))
                changed = True
                continue
            if o in ("cs", "CS"):
                rgb = _is_rgb_space(operands[0], spaces)
                if rgb:
                    operands = [pikepdf.Name.DeviceCMYK]
                    changed = True
                if o == "cs":
                    fill = rgb
                else:
                    stroke = rgb
            elif o in ("sc", "scn") and fill and len(operands) == 3 or \
                    o in ("SC", "SCN") and stroke and len(operands) == 3:
                operands = [*self.inks.cmyk(*map(float, operands))]
                changed = True
            elif o == "q":
                stack.append((fill, stroke))
            elif o == "Q" and stack:
                fill, stroke = stack.pop()
            elif o == "INLINE IMAGE":
                if _is_rgb_space(operands[0].obj.get("/ColorSpace"), spaces):
                    raise BuildError("press profile: an inline RGB image cannot be converted")
            out.append((operands, op))
        if changed:
            holder.write(pikepdf.unparse_content_stream(out))

    def _written(self, operands: tuple[bytes, ...], op: bytes) -> bytes:
        """`r g b rg` as `c m y k k` (RG: K), each colour worked out and written once."""
        key = (operands, op)
        done = self._bytes.get(key)
        if done is None:
            try:
                c = self.inks.cmyk(*(float(v) for v in operands))
            except ValueError:
                raise BuildError(f"press profile: cannot read the colour {operands!r}") from None
            done = self._bytes[key] = (" ".join(map(_num, c)) + " " +
                                       ("k" if op == b"rg" else "K")).encode()
        return done

    def _resources(self, resources) -> None:
        import pikepdf
        if resources is None or not self._once(resources):    # shared by stamped pages
            return
        for x in (resources.get("/XObject") or {}).values():
            if not self._once(x):
                continue
            if x.get("/Subtype") == "/Form":
                self._group(x, mask=False)
                self._content(x, x.get("/Resources"))
                self._resources(x.get("/Resources"))
            elif x.get("/Subtype") == "/Image":
                self._image(x)
        for p in (resources.get("/Pattern") or {}).values():
            if not self._once(p):
                continue
            if p.get("/PatternType") == 1:
                self._content(p, p.get("/Resources"))
                self._resources(p.get("/Resources"))
            else:
                self._shading(p.Shading)
        for s in (resources.get("/Shading") or {}).values():
            if self._once(s):
                self._shading(s)
        for g in (resources.get("/ExtGState") or {}).values():
            mask = g.get("/SMask")
            if isinstance(mask, pikepdf.Dictionary) and self._once(mask.G):
                self._group(mask.G, mask=True)
                self._content(mask.G, mask.G.get("/Resources"))
                self._resources(mask.G.get("/Resources"))
        spaces = resources.get("/ColorSpace")
        if spaces is not None:
            for name in list(spaces.keys()):
                if _is_rgb_space(spaces[name]):
                    spaces[name] = pikepdf.Name.DeviceCMYK

    def _shading(self, shading) -> None:
        import pikepdf
        if not _is_rgb_space(shading.get("/ColorSpace")):
            return
        shading.ColorSpace = pikepdf.Name.DeviceCMYK
        functions = shading.get("/Function")
        for f in (functions if isinstance(functions, pikepdf.Array) else [functions]):
            self._function(f)

    def _function(self, f) -> None:
        import pikepdf
        kind = int(f.FunctionType)
        if kind == 2:
            for key in ("/C0", "/C1"):
                rgb = [float(v) for v in f.get(key, [0, 0, 0] if key == "/C0" else [1, 1, 1])]
                f[key] = pikepdf.Array(self.inks.cmyk(*rgb))
            if float(f.get("/N", 1)) != 1:
                raise BuildError("press profile: a gradient whose exponent is not 1")
        elif kind == 3:
            for sub in f.Functions:
                self._function(sub)
        else:
            raise BuildError(f"press profile: a gradient of PDF function type {kind} cannot "
                             "be converted to CMYK")

    def _image(self, image) -> None:
        import zlib

        import pikepdf
        from PIL import Image
        space = image.get("/ColorSpace")
        if isinstance(space, pikepdf.Array) and str(space[0]) == "/Indexed" and \
                _is_rgb_space(space[1]):
            self._indexed(image, space)
            return
        if not _is_rgb_space(space):
            return
        im = pikepdf.PdfImage(image).as_pil_image().convert("RGB")
        if "/SMask" not in image and "/Mask" not in image and _neutral(im):
            data, out_space = im.convert("L").tobytes(), pikepdf.Name.DeviceGray
        else:
            from PIL import ImageCms
            cmyk = ImageCms.applyTransform(im, _cached_transforms()[0])
            if _neutral(im):      # greys (QR codes, a black logo) on black ink alone
                cmyk = Image.merge("CMYK", [Image.new("L", im.size, 0)] * 3 +
                                   [im.convert("L").point(
                                       lambda v: round(255 * _black_for(v)))])
            data, out_space = cmyk.tobytes(), pikepdf.Name.DeviceCMYK
        image.write(zlib.compress(data, 6), filter=pikepdf.Name.FlateDecode)
        image.ColorSpace = out_space
        image.BitsPerComponent = 8
        for key in ("/DecodeParms", "/Decode"):
            if key in image:
                del image[key]

    def _indexed(self, image, space) -> None:
        import pikepdf
        lookup = space[3]
        table = bytes(lookup.read_bytes() if isinstance(lookup, pikepdf.Stream) else lookup)
        out = bytearray()
        for i in range(0, len(table) - 2, 3):
            out += bytes(round(255 * v) for v in self.inks.cmyk(*(c / 255 for c in
                                                                    table[i:i + 3])))
        image.ColorSpace = pikepdf.Array([pikepdf.Name.Indexed, pikepdf.Name.DeviceCMYK,
                                          space[2], pikepdf.String(bytes(out))])


def _neutral(im) -> bool:
    r, g, b = im.split()
    from PIL import ImageChops
    return not ImageChops.difference(r, g).getbbox() and not ImageChops.difference(g, b).getbbox()


_BEFORE = b" \t\r\n\f\0[]<>(){}"      # what may stand before an operator (not a name's /)
_AFTER = _BEFORE + b"/%"
_HEX_DATA = b"0123456789ABCDEFabcdef \t\r\n\f\0>"


def _ops(raw: bytes, name: bytes):
    """Where the operator `name` stands in a content stream (not inside a longer token)."""
    at = raw.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or raw[at - 1] in _BEFORE) and (end == len(raw) or raw[end] in _AFTER):
            yield at
        at = raw.find(name, end)


def _rg_ops(raw: bytes):
    """The rg and RG operators of a plain stream: (start of operands, end, operands, op)."""
    found = sorted([(at, b"rg") for at in _ops(raw, b"rg")] +
                   [(at, b"RG") for at in _ops(raw, b"RG")])
    for at, op in found:
        head = raw[max(0, at - 80):at]
        operands = tuple(head.split()[-3:])
        if len(operands) == 3:
            yield at - len(head) + head.rfind(operands[0]), at + 2, operands, op


def _plain(raw: bytes) -> bool:
    """Whether a content stream can be read by pattern, without a parser: no literal strings
    and no colour space operators, and inline images only hex-encoded (whose data cannot
    hold an operator). WeasyPrint's and the stamper's streams are, save patterns'."""
    if b"(" in raw or any(_ops(raw, b"cs")) or any(_ops(raw, b"CS")):
        return False
    at = raw.find(b"BI")
    while at >= 0:
        data = raw.find(b"ID", at)
        end = raw.find(b"EI", data)
        if data < 0 or end < 0:
            return False
        head = raw[at:data]
        if b"/AHx" not in head and b"/ASCIIHexDecode" not in head or \
                raw[data + 3:end].translate(None, _HEX_DATA):
            return False
        at = raw.find(b"BI", end)
    return True


def _is_rgb_space(space, spaces=None) -> bool:
    """Whether a colour space (a name, maybe of a /ColorSpace resource, or an array) is RGB."""
    import pikepdf
    if space is None:
        return False
    if isinstance(space, pikepdf.Name):
        name = str(space)
        if name in ("/DeviceRGB", "/RGB"):
            return True
        if spaces is not None and name in spaces:
            return _is_rgb_space(spaces[name])
        return False
    if isinstance(space, pikepdf.Array) and len(space):
        kind = str(space[0])
        if kind == "/CalRGB":
            return True
        if kind == "/ICCBased":
            return int(space[1].get("/N", 0)) == 3
    return False


# --- boxes, crop marks and the slug -----------------------------------------------------------


def _boxes_and_marks(pdf, page, press: Press, slug: str, font, shared: dict) -> None:
    import pikepdf
    media = [float(v) for v in page.MediaBox]
    if press.sheet:         # a sheet a template laid out: the grid's trim and bleed
        trim, bleed = (_from_top(box, media) for box in press.sheet[1:])
    else:
        trim = [float(v) for v in page.get("/TrimBox", page.MediaBox)]
        bleed = [float(v) for v in page.get("/BleedBox", page.MediaBox)]
        bleed = [max(bleed[0], media[0]), max(bleed[1], media[1]),
                 min(bleed[2], media[2]), min(bleed[3], media[3])]
    streams = []
    if press.imposed or press.sheet:     # the sheet's crop marks are in its margin already
        margin = min(bleed[1] - media[1], SLUG * MM)
        y = bleed[1] - margin / 2 - 1 if margin >= 4 * MM else None
    else:
        s = SLUG * MM
        media = [bleed[0] - s, bleed[1] - s, bleed[2] + s, bleed[3] + s]
        if press.marks:
            key = ("marks", *trim, *bleed)
            if key not in shared:
                shared[key] = pdf.make_indirect(pikepdf.Stream(
                    pdf, ("q\n" + registration_marks(trim, bleed) + "\nQ").encode()))
            streams.append(shared[key])
        y = bleed[1] - 4 * MM
    if font is not None and y is not None:
        # between the crop marks of the trim's left and right edge: they cross no text
        streams.append(pikepdf.Stream(pdf, font.line(slug, trim[0] + 2 * MM, y).encode()))
    page.MediaBox = pikepdf.Array(media)
    page.BleedBox = pikepdf.Array(bleed)
    page.TrimBox = pikepdf.Array(trim)
    if "/CropBox" in page:
        del page["/CropBox"]
    if streams:
        if "q" not in shared:
            shared["q"] = pdf.make_indirect(pikepdf.Stream(pdf, b"q\n"))
            shared["Q"] = pdf.make_indirect(pikepdf.Stream(pdf, b"\nQ\n"))
        contents = page.Contents
        items = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
        page.Contents = pikepdf.Array([shared["q"], *items, shared["Q"], *streams])
        if font is not None:
            fonts = page.Resources.get("/Font")
            if fonts is None:
                page.Resources.Font = fonts = pikepdf.Dictionary()
            fonts[pikepdf.Name("/" + font.key)] = font.obj


def _from_top(box, media) -> list[float]:
    """A box in mm from the page's top left corner, in PDF points from its bottom left."""
    x0, y0, x1, y1 = box
    return [media[0] + x0 * MM, media[3] - y1 * MM, media[0] + x1 * MM, media[3] - y0 * MM]


def registration_marks(trim, bleed) -> str:
    """Crop marks in registration colour (all four inks at 100 %) on the trim lines, from
    MARK_GAP outside the bleed outwards: nothing of them is inside the bleed."""
    tl, tb, tr, tt = trim
    bl, bb, br, bt = bleed
    gap, length = MARK_GAP * MM, MARK_LENGTH * MM
    ops = ["0.25 w 1 1 1 1 K"]

    def line(x0, y0, x1, y1):
        ops.append(f"{x0:.3f} {y0:.3f} m {x1:.3f} {y1:.3f} l S")
    for x in (tl, tr):
        line(x, bb - gap, x, bb - gap - length)
        line(x, bt + gap, x, bt + gap + length)
    for y in (tb, tt):
        line(bl - gap, y, bl - gap - length, y)
        line(br + gap, y, br + gap + length, y)
    return "\n".join(ops)


class _SlugFont:
    """The slug line's text in the bundled sans, embedded (PDF/X embeds every font), black."""

    key = "FSlug"

    def __init__(self, pdf, folder: Path):
        import pikepdf
        import uharfbuzz as hb
        self.pdf = pdf
        self.data = (folder / SLUG_FONT).read_bytes()
        self.font = hb.Font(hb.Face(self.data))
        self.gids: dict[int, str] = {}
        self.obj = pdf.make_indirect(pikepdf.Dictionary())

    def line(self, text: str, x: float, y: float, size: float = 6.0) -> str:
        hexes = []
        for ch in text:
            gid = self.font.get_nominal_glyph(ord(ch))
            if gid is None:
                gid = self.font.get_nominal_glyph(ord("?")) or 0
                ch = "?"
            self.gids[gid] = ch
            hexes.append(f"{gid:04x}")
        return (f"q BT /{self.key} {size} Tf 0 0 0 1 k {x:.3f} {y:.3f} Td <{''.join(hexes)}> Tj "
                "ET Q")

    def embed(self) -> None:
        import hashlib

        from memberportal.print.joiner import _embed_font
        name = "F" + hashlib.sha256(self.data).hexdigest()[:16]
        made = _embed_font(self.pdf, name, self.data, self.gids)
        for key, value in made.items():
            self.obj[key] = value


def _identify(pdf, press: Press) -> None:
    """The output intent (the profile inside the file), PDF/X-4 in the Info and XMP."""
    import pikepdf
    from pikepdf import Name, String
    icc = pikepdf.Stream(pdf, ICC.read_bytes())
    icc.N = 4
    intent = pikepdf.Dictionary(
        Type=Name.OutputIntent, S=Name.GTS_PDFX, OutputConditionIdentifier=String(CONDITION),
        RegistryName=String("http://www.color.org"), Info=String(CONDITION_INFO),
        DestOutputProfile=pdf.make_indirect(icc))
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(intent)])
    stamp = press.day.strftime("D:%Y%m%d000000Z")
    iso = press.day.isoformat() + "T00:00:00Z"
    info = pdf.docinfo
    title = str(info.get("/Title", press.job))
    info.Title = String(title)
    info.Trapped = Name("/False")
    info.CreationDate = info.ModDate = String(stamp)
    for old in ("/GTS_PDFXVersion", "/GTS_PDFXConformance"):
        if old in info:
            del info[old]
    # a document id that is the same when the same job is made again (no clock, no random)
    document = uuid.uuid5(uuid.NAMESPACE_URL, f"memberportal:{press.job}:{iso}:{len(pdf.pages)}")
    xmp = _XMP.format(title=_xml(title), date=iso, document=document,
                      producer=_xml(str(info.get("/Producer", "memberportal"))))
    meta = pikepdf.Stream(pdf, xmp.encode("utf-8"))
    meta.Type, meta.Subtype = Name.Metadata, Name.XML
    pdf.Root.Metadata = pdf.make_indirect(meta)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:pdfxid="http://www.npes.org/pdfx/ns/id/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <xmp:CreateDate>{date}</xmp:CreateDate>
   <xmp:ModifyDate>{date}</xmp:ModifyDate>
   <xmp:MetadataDate>{date}</xmp:MetadataDate>
   <pdf:Producer>{producer}</pdf:Producer>
   <pdf:Trapped>False</pdf:Trapped>
   <pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion>
   <xmpMM:DocumentID>uuid:{document}</xmpMM:DocumentID>
   <xmpMM:VersionID>1</xmpMM:VersionID>
   <xmpMM:RenditionClass>default</xmpMM:RenditionClass>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


# --- the check: the press PDF read back -------------------------------------------------------


def check(data: bytes) -> list[str]:
    """What keeps a PDF from being a press PDF (nothing: it is one): boxes present and nested
    (media ⊇ bleed ⊇ trim), the PDF/X output intent with its CMYK profile, crop marks outside
    the bleed, and no RGB colour anywhere (colour operators, colour spaces, images, groups)."""
    import pikepdf
    problems: list[str] = []
    pdf = pikepdf.open(io.BytesIO(data))
    intents = pdf.Root.get("/OutputIntents") or []
    ok_intent = [i for i in intents if i.get("/S") == "/GTS_PDFX"]
    if not ok_intent:
        problems.append("no PDF/X output intent (/OutputIntents with /S /GTS_PDFX)")
    else:
        profile = ok_intent[0].get("/DestOutputProfile")
        if not isinstance(profile, pikepdf.Stream) or int(profile.get("/N", 0)) != 4:
            problems.append("the output intent carries no CMYK ICC profile")
    if pdf.docinfo.get("/Trapped") not in (pikepdf.Name("/False"), pikepdf.Name("/True")):
        problems.append("the document information has no /Trapped (True or False)")
    metadata = pdf.Root.get("/Metadata")
    if metadata is None or b"<pdfxid:GTS_PDFXVersion>PDF/X-4<" not in metadata.read_bytes():
        problems.append("the XMP metadata does not say PDF/X-4")
    seen: set = set()
    cache: dict = {}
    for n, page in enumerate(pdf.pages, 1):
        obj = page.obj
        boxes = {}
        for box in ("/MediaBox", "/BleedBox", "/TrimBox"):
            if box not in obj:
                problems.append(f"page {n}: no {box[1:]}")
            else:
                boxes[box] = [float(v) for v in obj[box]]
        if len(boxes) == 3:
            if not _inside(boxes["/BleedBox"], boxes["/MediaBox"]):
                problems.append(f"page {n}: the bleed box is not inside the media box")
            if not _inside(boxes["/TrimBox"], boxes["/BleedBox"]):
                problems.append(f"page {n}: the trim box is not inside the bleed box")
            for x0, y0, x1, y1 in _registration_lines(obj, cache):
                if _crosses(boxes["/BleedBox"], x0, y0, x1, y1):
                    problems.append(f"page {n}: a crop mark inside the bleed "
                                    f"({x0:.1f} {y0:.1f} to {x1:.1f} {y1:.1f})")
                    break
        for where in _rgb_in(pdf, obj, obj.get("/Resources"), seen, cache):
            problems.append(f"page {n}: RGB colour: {where}")
    return list(dict.fromkeys(problems))


def _inside(inner, outer) -> bool:
    e = 0.01
    return (inner[0] >= outer[0] - e and inner[1] >= outer[1] - e and inner[2] <= outer[2] + e
            and inner[3] <= outer[3] + e)


def _crosses(box, x0, y0, x1, y1) -> bool:
    """Whether a line has a point strictly inside a box (touching its edge is outside)."""
    lo_x, hi_x = min(x0, x1), max(x0, x1)
    lo_y, hi_y = min(y0, y1), max(y0, y1)
    return lo_x < box[2] and hi_x > box[0] and lo_y < box[3] and hi_y > box[1]


_LINE = re.compile(rb"([-\d.]+) ([-\d.]+) m ([-\d.]+) ([-\d.]+) l S")


def _raw(stream, cache: dict) -> bytes:
    """A stream's decoded bytes, read once per check (a background layer is every page's)."""
    key = stream.objgen
    if key == (0, 0):
        return stream.read_bytes()
    data = cache.get(key)
    if data is None:
        data = cache[key] = stream.read_bytes()
    return data


def _registration_lines(page, cache: dict) -> list[tuple[float, ...]]:
    """The lines the page strokes in registration colour (1 1 1 1 K) at its top level."""
    import pikepdf
    contents = page.get("/Contents")
    streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    lines = []
    for s in streams:
        if s is None:
            continue
        data = _raw(s, cache)
        at = data.find(b"1 1 1 1 K")
        while at >= 0:
            end = data.find(b"Q", at)
            for m in _LINE.finditer(data[at:end if end >= 0 else len(data)]):
                lines.append(tuple(float(v) for v in m.groups()))
            at = data.find(b"1 1 1 1 K", at + 1)
    return lines


def _rgb_in(pdf, holder, resources, seen: set, cache: dict) -> list[str]:
    import pikepdf
    found: list[str] = []
    key = holder.objgen
    if key != (0, 0):
        if key in seen:
            return found
        seen.add(key)
    group = holder.get("/Group")
    if group is not None and _is_rgb_space(group.get("/CS")):
        found.append("a transparency group in RGB")
    spaces = resources.get("/ColorSpace") if resources is not None else None
    contents = holder.get("/Contents") if not isinstance(holder, pikepdf.Stream) else holder
    streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    if isinstance(holder, pikepdf.Stream):      # a form or pattern: seen once, above
        fresh = streams
    else:                                       # a page's streams: a shared one once
        fresh = [s for s in streams if s is not None and s.objgen not in seen]
        seen.update(s.objgen for s in fresh if s.objgen != (0, 0))
    raws = [_raw(s, cache) for s in fresh]
    ops = []
    if all(_plain(raw) for raw in raws):
        found += [f"the operator {op[-1].decode()}" for raw in raws
                  for op in _rg_ops(raw)][:3]
    else:
        try:
            ops = pikepdf.parse_content_stream(holder)
        except pikepdf.PdfError as e:
            return [f"an unreadable content stream ({e})"]
    for operands, op in ops:
        o = str(op)
        if o in ("rg", "RG"):
            found.append(f"the operator {o}")
        elif o in ("cs", "CS") and _is_rgb_space(operands[0], spaces):
            found.append(f"the colour space {operands[0]} ({o})")
        elif o == "INLINE IMAGE" and _is_rgb_space(operands[0].obj.get("/ColorSpace"), spaces):
            found.append("an inline RGB image")
        if len(found) > 3:
            break
    if resources is None:
        return found
    if resources.objgen != (0, 0):      # shared by stamped pages: looked at once
        if resources.objgen in seen:
            return found
        seen.add(resources.objgen)
    for name, x in (resources.get("/XObject") or {}).items():
        if x.get("/Subtype") == "/Image":
            if x.objgen not in seen:
                seen.add(x.objgen)
                space = x.get("/ColorSpace")
                if _is_rgb_space(space) or isinstance(space, pikepdf.Array) and \
                        str(space[0]) == "/Indexed" and _is_rgb_space(space[1]):
                    found.append(f"the image {name} is RGB")
        elif x.get("/Subtype") == "/Form":
            found += _rgb_in(pdf, x, x.get("/Resources"), seen, cache)
    for name, p in (resources.get("/Pattern") or {}).items():
        if p.get("/PatternType") == 1:
            found += _rgb_in(pdf, p, p.get("/Resources"), seen, cache)
        elif _is_rgb_space(p.Shading.get("/ColorSpace")):
            found.append(f"the pattern {name} shades in RGB")
    for name, s in (resources.get("/Shading") or {}).items():
        if _is_rgb_space(s.get("/ColorSpace")):
            found.append(f"the shading {name} is RGB")
    for g in (resources.get("/ExtGState") or {}).values():
        mask = g.get("/SMask")
        if isinstance(mask, pikepdf.Dictionary):
            found += _rgb_in(pdf, mask.G, mask.G.get("/Resources"), seen, cache)
    for name, c in (spaces or {}).items():
        if _is_rgb_space(c):
            found.append(f"the colour space resource {name} is RGB")
    return found


# --- the profile, applied ---------------------------------------------------------------------


def check_profile(profile: str) -> None:
    """Refuse a print profile we do not have, before any rendering."""
    if profile not in PROFILES:
        raise BuildError(f"unknown print profile {profile!r}: use {' or '.join(PROFILES)}")


def finish(data: bytes, profile: str, press: Press | None) -> bytes:
    """A print job's PDF in its profile: office as it is; press converted, then checked (a
    press PDF that fails the check is never left: the error says what failed)."""
    check_profile(profile)
    if profile == "office":
        return data
    if press is None:
        raise BuildError("a press PDF needs its press settings (press_for)")
    made = to_press(data, press)
    problems = check(made)
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more"
                                           if len(problems) > 8 else "")
        raise BuildError(f"{press.job}: the press PDF fails its check, nothing written: "
                         f"{shown}", kind="print")
    return made
