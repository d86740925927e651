"""Joining chunks' PDFs in order: whole PDFs and stamped pages with shared forms and fonts."""
from __future__ import annotations

import io
import re

from memberportal.errors import BuildError
from memberportal.print.weasy import crop_mark_ops


class Joiner:
    """One PDF from parts added in order, e.g. as workers finish them, so joining overlaps
    rendering: whole PDFs (their pages copied) and stamped chunks (stamper.Stamped: pages
    drawn over shared shape forms, whose fields' fonts are subset and embedded at the end).

    qpdf (pikepdf) copies each part's pages with what they use, shared objects once per part.
    Each part's pages hang under a page-tree node of their own: appending them one by one to
    a single list slowed down as it grew (10,000 inserts in 100 parts: 3.8 s, the last parts
    5x slower than the first), a node per part stays linear (0.7 s)."""

    def __init__(self, marks: bool = False):
        import pikepdf
        self._pdf = pikepdf.new()
        self._parts: list = []  # the parts stay open until the joined file is written
        self._pages = 0
        self.marks = marks
        self._resources = None      # shared by every stamped page: forms, fonts, alphas
        self._boxes: dict | None = None
        self._fonts: dict[str, tuple[bytes, dict[int, str]]] = {}
        self._font_objects: dict = {}
        self._alphas: set[float] = set()

    def add(self, part) -> None:
        if isinstance(part, list):
            for one in part:
                self.add(one)
        elif isinstance(part, (bytes, bytearray)):
            self._add_pdf(part)
        else:
            self._add_stamped(part)

    def _open(self, data: bytes):
        import pikepdf
        out, part = self._pdf, pikepdf.open(io.BytesIO(data))
        if not self._parts:  # the first part's title, producer and language are the file's
            out.docinfo = out.copy_foreign(part.docinfo)
            if "/Lang" in part.Root:
                out.Root.Lang = part.Root.Lang
        self._parts.append(part)
        return part

    def _node(self, kids: list) -> None:
        from pikepdf import Array, Dictionary, Name
        out = self._pdf
        root = out.Root.Pages
        node = out.make_indirect(Dictionary(Type=Name.Pages, Kids=Array(kids), Count=len(kids),
                                            Parent=root))
        for kid in kids:
            kid.Parent = node
        root.Kids.append(node)
        self._pages += len(kids)
        root.Count = self._pages

    def _add_pdf(self, data: bytes) -> None:
        out, part = self._pdf, self._open(data)
        # (qpdf pushes what a page inherits from its tree down to the page as it copies it)
        kids = [out.copy_foreign(page.obj) for page in part.pages]
        if kids:
            self._node(kids)

    def _add_stamped(self, chunk) -> None:
        import pikepdf
        from pikepdf import Dictionary, Name
        out = self._pdf
        if self._resources is None:
            self._resources = out.make_indirect(Dictionary(
                XObject=Dictionary(), Font=Dictionary(), ExtGState=Dictionary(),
                ProcSet=pikepdf.Array([Name.PDF, Name.Text, Name.ImageB])))
        forms = self._resources.XObject
        for data, mapping, their_fonts in chunk.shapes:
            if not mapping:
                continue
            part = self._open(data)
            for index, name in mapping:
                page = part.pages[index]
                if self._boxes is None:
                    self._boxes = {box: [float(v) for v in page.obj[box]] for box in
                                   ("/MediaBox", "/TrimBox", "/BleedBox") if box in page.obj}
                    if self.marks:
                        forms.Marks = self._marks_form()
                if "/" + name not in forms:
                    forms["/" + name] = self._form(part, page, their_fonts)
        for name, (data, gids) in chunk.fonts.items():
            have = self._fonts.get(name)
            if have is None:
                if data is None:
                    raise BuildError(f"stamped pages use font {name}, whose file never came")
                self._fonts[name] = (data, dict(gids))
                self._resources.Font["/" + name] = self._font(name)
            else:
                have[1].update(gids)
        self._alphas |= chunk.alphas
        boxes = {k[1:]: pikepdf.Array(v) for k, v in (self._boxes or {}).items()}
        kids = []
        for content in chunk.pages:
            stream = pikepdf.Stream(out, content)
            stream.Filter = Name.FlateDecode
            kids.append(out.make_indirect(Dictionary(Type=Name.Page, Contents=stream,
                                                     Resources=self._resources, **boxes)))
        if kids:
            self._node(kids)

    def _font(self, name: str):
        """The font object of one of the fields' font files, filled in by finish()."""
        from pikepdf import Dictionary
        obj = self._font_objects.get(name)
        if obj is None:
            obj = self._font_objects[name] = self._pdf.make_indirect(Dictionary())
        return obj

    def _form(self, part, page, their_fonts: dict[str, str]):
        """A laid-out shape's page as a form: only the resources its drawing names (the page's
        are shared by its whole document), its fonts the file's own font objects."""
        import pikepdf
        from pikepdf import Dictionary, Name
        form = page.as_form_xobject()
        form.BBox = page.obj.MediaBox      # qpdf's default, the TrimBox, would cut the bleed
        names = {n.decode() for n in _NAMES.findall(form.read_bytes())}
        resources, ours = Dictionary(), {}
        for kind, entries in page.obj.Resources.items():
            if not isinstance(entries, pikepdf.Dictionary):
                resources[kind] = entries
                continue
            kept = Dictionary()
            for key, value in entries.items():
                if key[1:] not in names:
                    continue
                if kind == "/Font" and key[1:] in their_fonts:
                    ours[key] = their_fonts[key[1:]]
                else:
                    kept[key] = value
            resources[kind] = kept
        form.Resources = resources
        copied = self._pdf.copy_foreign(form)
        if ours:
            fonts = copied.Resources.get("/Font", Dictionary())
            for key, name in ours.items():
                fonts[key] = self._font(name)
            copied.Resources[Name.Font] = fonts
        return copied

    def _marks_form(self):
        import pikepdf
        from pikepdf import Name
        media, trim = self._boxes["/MediaBox"], self._boxes.get("/TrimBox",
                                                               self._boxes["/MediaBox"])
        ops = crop_mark_ops(media, trim).encode()
        x0, y0, x1, y1 = (float(v) for v in media)   # the page clips; the form must not cut
        return self._pdf.make_stream(ops, Type=Name.XObject, Subtype=Name.Form,  # a hairline
                                     BBox=pikepdf.Array([x0 - 1, y0 - 1, x1 + 1, y1 + 1]))

    def finish(self) -> bytes:
        import pikepdf
        from pikepdf import Dictionary, Name
        if self._resources is not None:
            missing = set(self._font_objects) - set(self._fonts)
            if missing:
                raise BuildError(f"shapes use fonts whose files never came: {sorted(missing)}")
            for name, (data, gids) in sorted(self._fonts.items()):
                made = _embed_font(self._pdf, name, data, gids)
                target = self._font(name)
                for key, value in made.items():
                    target[key] = value
            for alpha in sorted(self._alphas):
                self._resources.ExtGState[f"/a{pdf_number(alpha)}"] = Dictionary(
                    Type=Name.ExtGState, ca=alpha)
        out = io.BytesIO()
        self._pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                       deterministic_id=True)
        for part in self._parts:
            part.close()
        return out.getvalue()


_NAMES = re.compile(rb"/([^\s/\[\]<>(){}%]+)")     # the names a content stream uses


def pdf_number(value: float) -> str:
    """A number as PDF operators write it: at most six decimals, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _embed_font(pdf, name: str, data: bytes, gids: dict[int, str]):
    """A Type 0 font (Identity-H, CID = glyph id) of `data` cut down to the glyphs `gids`,
    with their widths and text (ToUnicode), as WeasyPrint embeds its own fonts."""
    import pikepdf
    import uharfbuzz as hb
    from pikepdf import Array, Dictionary, Name, String
    face = hb.Face(data)
    upem = face.upem
    font = hb.Font(face)
    used = sorted(set(gids) | {0})
    subset_input = hb.SubsetInput()
    for gid in used:
        subset_input.glyph_set.add(gid)
    subset_input.flags = (hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.DESUBROUTINIZE |
                          hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED)
    for tag in ("BASE", "DSIG", "EBDT", "EBLC", "EBSC", "GPOS", "GSUB", "JSTF", "LTSH",
                "PCLT", "SVG "):
        subset_input.drop_table_tag_set.add(_tag(tag))
    blob = hb.subset(face, subset_input).blob.data
    otf = blob[:4] == b"OTTO"
    widths = {g: round(font.get_glyph_h_advance(g) * 1000 / upem) for g in used}
    extents = font.get_font_extents("ltr")
    ascent = round(extents.ascender * 1000 / upem)
    descent = round(extents.descender * 1000 / upem)
    tag = "".join(chr(65 + b % 26) for b in bytes.fromhex(name[1:])[:6])
    base = Name("/" + tag + "+" + _postscript_name(data, name))
    file = pikepdf.Stream(pdf, blob)
    if otf:
        file.Subtype = Name.OpenType
    else:
        file.Length1 = len(blob)
    descriptor = pdf.make_indirect(Dictionary(
        Type=Name.FontDescriptor, FontName=base, Flags=4,
        FontBBox=Array([0, descent, max(widths.values()), ascent]), ItalicAngle=0,
        Ascent=ascent, Descent=descent, CapHeight=ascent, StemV=80,
        **{("FontFile3" if otf else "FontFile2"): file}))
    w = Array()
    run: list[int] = []
    for g in used:
        if run and g == run[-1] + 1:
            run.append(g)
            continue
        if run:
            w.extend([run[0], Array([widths[x] for x in run])])
        run = [g]
    w.extend([run[0], Array([widths[x] for x in run])])
    cid = pdf.make_indirect(Dictionary(
        Type=Name.Font, Subtype=Name.CIDFontType0 if otf else Name.CIDFontType2, BaseFont=base,
        CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"),
                                 Supplement=0),
        CIDToGIDMap=Name.Identity, W=w, FontDescriptor=descriptor))
    lines = [b"/CIDInit /ProcSet findresource begin", b"12 dict begin", b"begincmap",
             b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             b"/CMapName /Adobe-Identity-UCS def", b"/CMapType 2 def",
             b"1 begincodespacerange", b"<0000> <ffff>", b"endcodespacerange"]
    mapped = sorted((g, t) for g, t in gids.items() if t)
    for i in range(0, len(mapped), 100):
        batch = mapped[i:i + 100]
        lines.append(f"{len(batch)} beginbfchar".encode())
        lines += [f"<{g:04x}> <{t.encode('utf-16-be').hex()}>".encode() for g, t in batch]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return Dictionary(
        Type=Name.Font, Subtype=Name.Type0, BaseFont=base, Encoding=Name("/Identity-H"),
        DescendantFonts=Array([cid]), ToUnicode=pikepdf.Stream(pdf, b"\n".join(lines)))


def _tag(text: str) -> int:
    return int.from_bytes(text.encode("latin-1"), "big")


def _postscript_name(data: bytes, fallback: str) -> str:
    """'Print-Sans-Bold': family and style as WeasyPrint names the fonts it embeds."""
    from fontTools.ttLib import TTFont
    try:
        table = TTFont(io.BytesIO(data), lazy=True)["name"]
        family = table.getDebugName(16) or table.getDebugName(1) or ""
        style = table.getDebugName(17) or table.getDebugName(2) or ""
    except Exception:       # a font whose name table fontTools cannot read: named by digest
        family = style = ""
    name = family + ("" if style in ("", "Regular") else " " + style)
    return re.sub(r"[^A-Za-z0-9_.-]", "", name.replace(" ", "-")) or fallback
