"""WeasyPrint internals that print/weasyprint_private.py and stamp/weasyprint_layout.py read."""
from __future__ import annotations

import inspect
import io
import re
from pathlib import Path

import pikepdf
import pytest

from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import weasyprint_private
from memberportal.print.stamp import fields as F
from memberportal.print.stamp import weasyprint_layout
from memberportal.print.weasy import Fonts, Renderer

# A WeasyPrint upgrade that moves any of these fails here first, by name: then stamping turns
# itself off (weasyprint_layout.supported) or the renderer leaves WeasyPrint alone, and these
# files are brought up to the new version (or TESTED_WEASYPRINT stays where it is).

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
       "DwADhgGAWjR9awAAAABJRU5ErkJggg==")
TEXT = "World Wide Web"


@pytest.fixture(scope="module")
def laid():
    """A document laid out as inserts are: bundled fonts, a field, an image, a bar, an
    absolutely positioned box; and its PDF."""
    fonts = Fonts.load([BUILTIN_TEMPLATES / "fonts"])
    renderer = Renderer([BUILTIN_TEMPLATES])
    html = f"""<style>
      @font-face {{ font-family: P; src: url({fonts.url("print-sans-regular.otf")}) }}
      @page {{ size: A6; margin: 10mm }}
      body {{ font-family: P; font-size: 12pt }}
      .abs {{ position: absolute; top: 5mm; left: 5mm }}
      .bar {{ width: 40%; height: 2mm; background: #c33; border-radius: 1mm }}
      img {{ width: 10mm; height: 10mm }}
    </style>
    <div id="x"><p><span data-mp-field="0">{TEXT}</span></p><span class="abs">A</span>
    <div data-mp-field="1" class="bar"></div><img data-mp-field="2" src="{PNG}"></div>"""
    doc = renderer.document(html, BUILTIN_TEMPLATES, "contract")
    return doc, renderer.write(doc, "contract")


def walk(box):
    yield box
    for child in getattr(box, "children", None) or ():
        yield from walk(child)


def boxes(doc, cls):
    return [b for b in walk(doc.pages[0]._page_box) if isinstance(b, cls)]


def field_text(doc):
    """The text box of the field's value."""
    from weasyprint.formatting_structure.boxes import TextBox
    [box] = [b for b in boxes(doc, TextBox) if b.text == TEXT]
    return box


def root_style(doc):
    """The root element's computed style: initial values."""
    return doc.pages[0]._page_box.children[0].style


def page_stream(pdf: bytes) -> str:
    with pikepdf.open(io.BytesIO(pdf)) as out:
        return out.pages[0].Contents.read_bytes().decode()


# --- the classes boxes are compared with (the version: test_stamping.py) ---------------------


EXACT = ["InlineBox", "LineBox", "TextBox", "BlockReplacedBox", "InlineReplacedBox"]


@pytest.mark.parametrize("name", EXACT)
def test_box_class_has_no_subclass(name):
    # isinstance against these is the exact type: a new subclass would be read as its parent
    from weasyprint.formatting_structure import boxes as wb
    assert not type.__subclasses__(getattr(wb, name))


def test_block_box_subclasses_are_the_ones_left_out():
    # a width bar is a plain BlockBox: neither a table caption nor a footnote area
    from weasyprint.formatting_structure import boxes as wb
    assert set(wb.BlockBox.__subclasses__()) == {wb.TableCaptionBox, wb.FootnoteAreaBox}


def test_absolute_placeholder_wraps_its_box_in_box(laid):
    from weasyprint.formatting_structure.boxes import Box
    from weasyprint.layout.absolute import AbsolutePlaceholder
    assert not AbsolutePlaceholder.__subclasses__()
    doc, _ = laid
    placeholders = boxes(doc, AbsolutePlaceholder)
    assert placeholders and all(isinstance(p._box, Box) for p in placeholders)


def test_anonymous_style_class(laid):
    from weasyprint.css import AnonymousStyle
    assert not AnonymousStyle.__subclasses__()
    doc, _ = laid
    assert any(isinstance(b.style, AnonymousStyle) for b in walk(doc.pages[0]._page_box))


# --- the layout tree ------------------------------------------------------------------------


def test_page_box_of_a_page(laid):
    from weasyprint.formatting_structure.boxes import PageBox
    doc, _ = laid
    assert isinstance(doc.pages[0]._page_box, PageBox)


def test_element_of_a_box(laid):
    doc, _ = laid
    field = [b for b in walk(doc.pages[0]._page_box)
             if getattr(b, "element", None) is not None and b.element.get("data-mp-field")]
    assert {b.element.get("data-mp-field") for b in field} == {"0", "1", "2"}


GEOMETRY = ["padding_top", "padding_right", "padding_bottom", "padding_left",
            "border_top_width", "border_right_width", "border_bottom_width", "border_left_width",
            "margin_left", "margin_right", "position_x", "position_y", "width", "height"]
METHODS = ["content_box_x", "content_box_y", "border_box_x", "border_box_y", "border_height",
           "border_width"]
RADII = ["border_top_left_radius", "border_top_right_radius", "border_bottom_right_radius",
         "border_bottom_left_radius"]


@pytest.mark.parametrize("name", GEOMETRY)
def test_box_geometry_attribute(laid, name):
    from weasyprint.formatting_structure.boxes import BlockBox, InlineBox
    doc, _ = laid
    for box in boxes(doc, BlockBox)[:3] + boxes(doc, InlineBox):
        assert isinstance(getattr(box, name), (int, float)), (type(box).__name__, name)


@pytest.mark.parametrize("name", METHODS)
def test_box_geometry_method(laid, name):
    from weasyprint.formatting_structure.boxes import BlockBox, InlineReplacedBox
    doc, _ = laid
    for box in boxes(doc, BlockBox)[:3] + boxes(doc, InlineReplacedBox):
        assert isinstance(getattr(box, name)(), (int, float)), (type(box).__name__, name)


@pytest.mark.parametrize("name", RADII)
def test_box_radius_is_a_pair_of_lengths(laid, name):
    from weasyprint.formatting_structure.boxes import BlockBox
    doc, _ = laid
    [bar] = [b for b in boxes(doc, BlockBox) if b.element.get("class") == "bar"]
    rx, ry = getattr(bar, name)
    assert rx > 0 and ry > 0


def test_text_box_text_and_baseline(laid):
    doc, _ = laid
    box = field_text(doc)
    assert isinstance(box.baseline, float) and 0 < box.baseline < box.height


# --- computed styles: each key read, and the shape of its value ------------------------------

STYLE_KEYS = {
    "width": str, "height": str, "min_width": str, "top": str, "left": str, "right": str,
    "position": str, "float": str, "display": tuple, "opacity": (int, float),
    "transform": tuple, "overflow": str, "text_align_all": str, "text_align_last": str,
    "direction": str, "box_shadow": tuple, "outline_width": (int, float),
    "text_transform": str, "text_decoration_line": str, "white_space": str,
    "vertical_align": str, "font_size": (int, float), "hyphens": str, "overflow_wrap": str,
    "word_break": str, "text_overflow": str, "block_ellipsis": str, "visibility": str,
    "object_fit": str, "image_rendering": str, "z_index": str, "content": str,
}


@pytest.mark.parametrize("key", sorted(STYLE_KEYS))
def test_style_key_and_its_initial_value(laid, key):
    doc, _ = laid
    value = root_style(doc)[key]
    assert isinstance(value, STYLE_KEYS[key]), (key, value)


def test_style_display_is_outer_and_inner(laid):
    doc, _ = laid
    assert tuple(root_style(doc)["display"])[:2] == ("block", "flow")


@pytest.mark.parametrize("key", ["text_indent", "max_width"])
def test_style_dimension_has_value(laid, key):
    doc, _ = laid
    value = root_style(doc)[key]
    assert isinstance(value.value, (int, float))
    assert key != "max_width" or value.value == float("inf")


@pytest.mark.parametrize("key", ["color", "background_color"])
def test_style_colour_has_space_alpha_and_srgb(laid, key):
    doc, _ = laid
    colour = root_style(doc)[key]
    assert colour.space == "srgb" and isinstance(colour.alpha, (int, float))
    assert len(colour.to("srgb").coordinates) == 3


def test_style_background_image_layers(laid):
    doc, _ = laid
    layers = root_style(doc)["background_image"]
    assert all(layer[0] == "none" for layer in layers)


@pytest.mark.parametrize("key", RADII)
def test_style_radius_has_units(laid, key):
    doc, _ = laid
    assert all(r.unit for r in root_style(doc)[key])


# --- Pango text layout, as split_first_line and draw_first_line use it ------------------------


def test_line_break_functions():
    from weasyprint.text import line_break as lb
    params = list(inspect.signature(lb.split_first_line).parameters)
    assert params[:6] == ["text", "style", "context", "max_width", "justification_spacing",
                          "is_line_start"]
    assert list(inspect.signature(lb.line_size).parameters) == ["line", "style"]
    assert list(inspect.signature(lb.strut).parameters) == ["style"]
    for method in ("set_text", "get_first_line", "reactivate"):
        assert callable(getattr(lb.Layout, method))


def test_line_break_asks_the_context_for_dictionaries_only():
    from weasyprint.text import line_break as lb
    used = set(re.findall(r"\bcontext\.(\w+)", inspect.getsource(lb)))
    assert used == {"dictionaries"}


def test_split_first_line_gives_six_values(laid):
    from weasyprint.text.line_break import split_first_line, strut
    doc, _ = laid
    box = field_text(doc)
    lay, length, resume, width, height, baseline = split_first_line(
        TEXT, box.style, weasyprint_layout._Context(), 60, 0, True)
    assert 0 < length < len(TEXT.encode()) and resume is not None
    assert lay.text == "World" and width <= 60 and height > 0 and baseline > 0
    assert isinstance(strut(box.style)[0], (int, float))


def test_pango_glyph_structs():
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango
    assert FROM_UNITS == 1 / 1024
    assert ffi.sizeof("PangoGlyphInfo") == weasyprint_layout._GLYPH.size
    assert ffi.offsetof("PangoGlyphInfo", "glyph") == 0
    assert ffi.offsetof("PangoGlyphInfo", "geometry") == 4
    assert [f for f, _ in ffi.typeof("PangoGlyphGeometry").fields] == \
        ["width", "x_offset", "y_offset"]
    fields = {name: {f for f, _ in ffi.typeof(name).fields} for name in (
        "PangoLayoutLine", "GSList", "PangoGlyphItem", "PangoGlyphString", "PangoItem",
        "PangoAnalysis")}
    assert "runs" in fields["PangoLayoutLine"] and {"data", "next"} <= fields["GSList"]
    assert {"item", "glyphs"} <= fields["PangoGlyphItem"]
    assert {"num_glyphs", "glyphs", "log_clusters"} <= fields["PangoGlyphString"]
    assert {"offset", "length", "analysis"} <= fields["PangoItem"]
    assert "font" in fields["PangoAnalysis"]
    assert pango.PANGO_GLYPH_EMPTY == 0x0FFFFFFF
    assert pango.PANGO_GLYPH_UNKNOWN_FLAG == 0x10000000
    assert callable(pango.pango_layout_get_baseline)


def test_draw_first_line_is_the_one_glyphs_follow():
    from weasyprint.draw.text import draw_first_line
    assert list(inspect.signature(draw_first_line).parameters) == [
        "stream", "textbox", "text_overflow", "block_ellipsis", "matrix"]
    source = inspect.getsource(draw_first_line)
    assert "glyph_info.geometry.x_offset / font_size" in source        # as _glyphs offsets
    assert "width * 1000 * FROM_UNITS / font_size" in source            # and corrects widths


def tj_items(ops: str) -> list[str]:
    """A TJ array's glyphs and adjustments, zero adjustments and string breaks dropped."""
    out: list[str] = []
    for hexes, number in re.findall(r"<([0-9a-f]*)>|(-?\d+(?:\.\d+)?)", ops):
        if hexes:
            out += [hexes[i:i + 4] for i in range(0, len(hexes), 4)]
        elif float(number):
            out.append(str(int(float(number))))
    return out


def test_slots_read_and_glyphs_drawn_as_weasyprint_draws_them(laid):
    """analyse() finds every field's slot only where it reproduces WeasyPrint's layout to
    1/1000 px; the text's glyphs and advances are the ones WeasyPrint wrote."""
    doc, pdf = laid
    root = weasyprint_layout.section(doc.pages[0], "x")
    shaper = weasyprint_layout.Shaper(weasyprint_layout.FontBook())
    flds = (F.Field("text", TEXT), F.Field("width", "40", "%"), F.Field("qr", "x"))
    slots = weasyprint_layout.analyse(root, flds, [TEXT, None, None], shaper)
    assert all(slots), slots
    [line] = shaper.lines(slots[0], TEXT)
    theirs = [tj_items(a) for a in re.findall(r"\[([^\]]*)\] TJ", page_stream(pdf))]
    [ours] = [tj_items(a) for a in re.findall(r"\[([^\]]*)\] TJ", line.ops)]
    assert ours in theirs


def test_page_transform_stamped_pages_repeat(laid):
    # stamper.py flips and scales the fields' operators as WeasyPrint does its page's
    doc, pdf = laid
    height = doc.pages[0].height * 0.75
    assert re.match(rf"1 0 0 -1 0 {height:.6f}\d* cm\nq\n0\.75 0 0 0\.75 0 0 cm\n",
                    page_stream(pdf))


# --- fonts -----------------------------------------------------------------------------------


def test_pango_font_functions(laid):
    from weasyprint.text.fonts import (
        get_hb_object_data,
        get_pango_font_hb_face,
        get_pango_font_key,
    )
    assert list(inspect.signature(get_pango_font_key).parameters) == ["pango_font"]
    assert list(inspect.signature(get_pango_font_hb_face).parameters) == ["pango_font"]
    assert list(inspect.signature(get_hb_object_data).parameters)[0] == "hb_object"


def test_embedded_fonts_of_a_document(laid):
    doc, _ = laid
    assert doc.fonts
    for font in doc.fonts.values():
        assert isinstance(font.hash, str) and isinstance(font.to_unicode, dict)
        assert not font.missing and font.hb_face
    book = weasyprint_layout.FontBook()
    [(resource, face, text)] = list(book.embedded(doc))
    assert resource in {f.hash for f in doc.fonts.values()} and face.data[:4] == b"OTTO"
    assert set(TEXT.replace(" ", "")) <= set(text.values())


def test_pango_font_size_and_file(laid):
    from weasyprint.text.line_break import Layout
    doc, _ = laid
    box = field_text(doc)
    layout = Layout(box.style)
    layout.set_text(TEXT)
    first, _ = layout.get_first_line()
    found = weasyprint_layout.FontBook().face(first.runs.data.item.analysis.font)
    assert found is not None
    face, size = found
    assert size == pytest.approx(16, abs=1e-3) and face.data[:4] == b"OTTO"   # 12pt in px


# --- what the renderer changes: margin boxes, the UA stylesheet, the font folder -------------


def test_margin_box_names_are_weasyprints():
    from weasyprint.css import PAGE_MARGIN_BOXES
    assert {f"@{m}" for m in PAGE_MARGIN_BOXES} - {"@footnote", "@note-area"} == \
        set(weasyprint_private.MARGIN_BOXES)


def test_make_margin_boxes_is_looked_up_in_weasyprint_layout(monkeypatch, tmp_path):
    import weasyprint.layout as layout
    make = layout.make_margin_boxes
    assert list(inspect.signature(make).parameters) == ["context", "page", "state"]
    asked = []

    def counting(context, page, state):
        asked.append([context.style_for(page.page_type, k) is not None
                      for k in weasyprint_private.MARGIN_BOXES])
        return make(context, page, state)

    monkeypatch.setattr(layout, "make_margin_boxes", counting)
    Renderer([tmp_path]).pdf("<style>@page { size: A6; @top-center { content: 'T' } }</style>"
                             "<p style='break-after: page'>a</p><p>b</p>", tmp_path, "margins")
    assert len(asked) == 2 and all(any(one) for one in asked)


def test_empty_margin_boxes_are_skipped_and_others_kept(monkeypatch, tmp_path):
    import weasyprint.layout as layout
    from weasyprint.formatting_structure.boxes import MarginBox
    monkeypatch.setattr(layout, "make_margin_boxes", layout.make_margin_boxes)
    weasyprint_private.skip_empty_margin_boxes()
    assert layout.make_margin_boxes.skips_empty
    renderer = Renderer([tmp_path])
    plain = renderer.document("<p>a</p>", tmp_path, "plain")
    numbered = renderer.document("<style>@page { @bottom-center { content: counter(page) } }"
                                 "</style><p>a</p>", tmp_path, "numbered")
    assert not [b for b in walk(plain.pages[0]._page_box) if isinstance(b, MarginBox)]
    margins = [b for b in walk(numbered.pages[0]._page_box) if isinstance(b, MarginBox)]
    assert [m.at_keyword for m in margins] == ["@bottom-center"]
    style = margins[0].style
    assert style["content"] not in ("normal", "inhibit", "none")


@pytest.mark.parametrize("pseudo", sorted(weasyprint_private.UA_PSEUDO_USED_BY))
def test_user_agent_rule_is_one_line(pseudo):
    from weasyprint import html as wh
    assert isinstance(wh.UA, str)
    assert len(re.findall(rf"^::{pseudo} \{{[^}}]*\}}$", wh.UA, flags=re.M)) == 1


def test_user_agent_stylesheets_of_a_document():
    from weasyprint import CSS, HTML
    from weasyprint import html as wh
    from weasyprint.css.counters import CounterStyle
    assert isinstance(wh.UA_STYLESHEET, CSS)
    assert HTML(string="<p>x</p>")._ua_stylesheets() == [wh.UA_STYLESHEET]
    assert "counter_style" in inspect.signature(CSS).parameters
    assert isinstance(CounterStyle(), dict)
    lean = weasyprint_private.html_class("<p>x</p>")
    assert lean is not HTML and wh.UA_STYLESHEET not in lean(string="x")._ua_stylesheets()


def test_font_configuration_writes_font_faces_into_its_folder(tmp_path):
    from weasyprint.text.fonts import FontConfiguration
    config = FontConfiguration()
    assert hasattr(config, "_folder")
    renderer = Renderer([BUILTIN_TEMPLATES])
    folder = weasyprint_private.font_folder(renderer.font_config)
    assert isinstance(folder, Path) and folder.is_dir()
    fonts = Fonts.load([BUILTIN_TEMPLATES / "fonts"])
    face = f"@font-face {{ font-family: P; src: url({fonts.url('print-sans-bold.otf')}) }}"
    renderer.pdf(f"<style>{face} p {{ font-family: P }}</style><p>x</p>", BUILTIN_TEMPLATES,
                 "fonts")
    assert list(folder.iterdir())
    renderer.close()
    assert not folder.exists() and weasyprint_private.font_folder(renderer.font_config) is None


# --- used by weasy.layered_pdf (public API, but pydyf's layout of the page tree) --------------


def test_finisher_gets_pydyf_page_tree(tmp_path):
    from weasyprint import HTML
    seen = []

    def finish(document, pdf):
        kids = pdf.pages["Kids"]
        seen.append((len(kids), kids[1::3], kids[2::3], len(document.pages)))

    HTML(string="<p style='break-after: page'>a</p><p>b</p>").render().write_pdf(
        finisher=finish)
    assert seen == [(6, [0, 0], ["R", "R"], 2)]
