"""The Jinja2 environment: sandboxed, project templates first, StrictUndefined, autoescape."""
from __future__ import annotations

import os
import string
import unicodedata
from datetime import date
from decimal import Decimal
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from memberportal.core.models import Program, visible_words
from memberportal.core.rules import Msg
from memberportal.errors import InputError, MemberPortalError, TemplateError, Where, worded
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.render.messages import day, discount, money, number, say, word
from memberportal.render.qr import qr_img, qr_svg

COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容",
                     "令狐", "长孙", "宇文", "司徒", "夏侯", "轩辕", "端木", "南宫", "西门")


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def mask_name(name: str | None) -> str:
    """王晓梅 -> 王*梅, 李娜 -> 李*, 欧阳娜娜 -> 欧阳**, Anna Smith -> A*** S****.

    Defined on the visible characters: '王 五', '王\\n五' or '王\\u200b五' mask as 王五."""
    words = visible_words(name or "")  # no name: "", and templates greet neutrally
    if not words:
        return ""
    if all(_is_cjk(c) for w in words for c in w):
        name = "".join(words)
        surname = name[:2] if name.startswith(COMPOUND_SURNAMES) and len(name) > 2 else name[0]
        rest = name[len(surname):]
        if len(rest) >= 2 and len(surname) == 1:
            return surname + "*" * (len(rest) - 1) + rest[-1]
        return surname + "*" * max(len(rest), 1)
    return " ".join(w[0] + "*" * (len(w) - 1) for w in words)


def print_name(name: str | None, title: str | None, style: str) -> str:
    """The member's name as a printed piece shows it (tiers.yml brand.print_names):
    masked (王*梅), honorific (王女士, Ms Smith; masked without a title) or full (王晓梅)."""
    words = visible_words(name or "")
    if not words:
        return ""
    if style == "full":
        return " ".join(words) if not all(_is_cjk(c) for w in words for c in w) else \
            "".join(words)
    if style == "honorific" and title:
        if all(_is_cjk(c) for w in words for c in w):
            joined = "".join(words)
            long = joined.startswith(COMPOUND_SURNAMES) and len(joined) > 2
            return joined[:2 if long else 1] + title
        return f"{title} {words[-1]}"
    return mask_name(name)


# Characters Markdown (with attr_list, md_in_html, tables) reads as syntax, and the HTML ones:
# each becomes a character reference, which Markdown and a raw HTML block both show as itself.
_MARKDOWN_SIGNIFICANT = {ord(c): f"&#{ord(c)};" for c in "\\`*_{}[]()<>#+-.!|&\"'~^=:$%"}


def markdown_text(value) -> Markup:
    """`value` as text in a Markdown page: no link, image, attribute list, heading, table cell
    break or raw HTML can come out of it, and a line break is a space."""
    if isinstance(value, Markup):
        return value
    text = " ".join(str(value).split())
    return Markup(text.translate(_MARKDOWN_SIGNIFICANT))


@jinja2.pass_context
def _markdown_finalize(context, value):
    return _markdown_value(value) if _markdown(context) else value


def _markdown_value(value):
    if isinstance(value, (int, float, Decimal)):
        return value    # a number cannot make Markdown: written as it is
    return markdown_text(value)


def _markdown(context) -> bool:
    return bool(context.name) and context.name.endswith(".md.j2")


def environment(search_path: list[Path], lang: str = "zh", symbol: str = "¥",
                loader: jinja2.BaseLoader | None = None,
                address: str | None = None, markdown: bool = False) -> jinja2.Environment:
    """Templates resolve through `search_path` in order (project first), then the built-ins.

    `loader` replaces the search path (a worker on another machine gets template sources);
    `address` is the program's form of address (您 or 你) for every Chinese sentence.
    `markdown` (the portal's): in a `*.md.j2` template every value written out, and every
    parameter of t(), is Markdown text (as |md makes it) unless it is markup already, so a
    project's own template that forgets |md cannot turn program text into a link or HTML.
    """
    if loader is None:
        paths = [str(p) for p in search_path if p.is_dir()]
        if BUILTIN_TEMPLATES.is_dir() and str(BUILTIN_TEMPLATES) not in paths:
            paths.append(str(BUILTIN_TEMPLATES))
        loader = _FolderLoader(paths)
    env = _Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "svg", "j2"],
                                            default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=_markdown_finalize if markdown else None,
    )
    env.filters.update(
        mask=mask_name,
        money=lambda v: money(v, symbol),
        number=number,
        day=lambda d: day(d, lang) if isinstance(d, date) else d,
        say=lambda m: say(m, lang, symbol, address) if isinstance(m, Msg) else m,
        discount=lambda percent: discount(percent, lang),
        qr=lambda data, **kw: Markup(qr_svg(str(data), **kw)),
        qr_img=lambda data, title="QR", **kw: Markup(qr_img(str(data), str(title), **kw)),
        nowrap=lambda text: Markup(f'<span class="nowrap">{escape(text)}</span>'),
        md=markdown_text,
    )
    env.globals.update(t=translator(lang, address), lang=lang)
    if markdown:
        plain = env.globals["t"]

        @jinja2.pass_context
        def t(context, key: str, **params) -> Markup:
            if _markdown(context):
                params = {k: _markdown_value(v) for k, v in params.items()}
            return plain(key, **params)
        env.globals["t"] = t
    env.filters["_t"] = env.globals["t"]
    return env


class _FolderLoader(jinja2.FileSystemLoader):
    """Templates from the search-path folders, never through a link that leads out of them
    (a link under templates/ to .memberportal/secret must not be included into a page)."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        for folder in self.searchpath:
            if filename.startswith(folder.rstrip(os.sep) + os.sep):
                real, inside = os.path.realpath(filename), os.path.realpath(folder)
                if not real.startswith(inside + os.sep):
                    raise TemplateError(
                        **worded("template.link_out", real=real, folder=folder),
                        kind=f"template {template}")
                break
        return source, filename, uptodate


class _Environment(ImmutableSandboxedEnvironment):
    """A sandbox: a template reaches no attribute starting with _ (so no
    cycler.__init__.__globals__.os), calls nothing marked unsafe and changes no list or dict
    it is given; an attempt is a TemplateError naming template and line.

    Compiles t(key, ...) as the filter key|_t(...): called directly, not through the
    context, and with a constant key and constant parameters worked out once when the
    template is compiled (Jinja folds constant filter calls). A template that names
    anything else `t` (set, for, macro argument, import) is compiled as it is written."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._safe: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj, attr, value):
        # the sandbox decides by the object's type and the name only; asked once per pair, it
        # costs a personal page some 70 checks through isinstance chains and ABCs otherwise
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe

    def unsafe_undefined(self, obj, attribute):
        # raised at once: an undefined would let map(attribute=...) or `is defined` go quiet
        raise SecurityError(f"access to attribute {attribute!r} of a "
                            f"{type(obj).__name__!r} object is unsafe")

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if isinstance(source, str):
            source = self.parse(source, name, filename)
            if not _names_t(source):
                source = _TranslationsAsFilters().visit(source)
                source.set_environment(self)
        return super().compile(source, name, filename, raw, defer_init)


def _names_t(tree: nodes.Template) -> bool:
    """Whether the template binds the name t itself (then t(...) may not be ours)."""
    if any(n.name == "t" and n.ctx != "load" for n in tree.find_all(nodes.Name)):
        return True
    for node in tree.find_all((nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Import) and node.target == "t":
            return True
        if isinstance(node, nodes.FromImport) and any(
                (n[1] if isinstance(n, tuple) else n) == "t" for n in node.names):
            return True
    return False


class _TranslationsAsFilters(NodeTransformer):
    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        node = self.generic_visit(node)
        if isinstance(node.node, nodes.Name) and node.node.name == "t" and node.args and \
                not node.dyn_args:
            return nodes.Filter(node.args[0], "_t", node.args[1:], node.kwargs, None,
                                node.dyn_kwargs, lineno=node.lineno)
        return node


def translator(lang: str, address: str | None = None):
    """t(key, **params): the catalogue entry, escaped, with each parameter escaped into it
    (a parameter may itself be markup, like |nowrap).

    A page calls it some thirty times, so each entry is escaped once and kept: one without
    braces is returned as it is (parameters it has no field for are ignored, as
    Markup.format ignores them), one whose fields are all plain {names} is filled by
    str.format with escaped values, any other by Markup.format.
    """
    entries: dict[str, tuple[Markup, bool, bool]] = {}

    def t(key: str, **params) -> Markup:
        entry = entries.get(key)
        if entry is None:
            text = Markup.escape(word(key, lang, address))
            entry = entries[key] = (text, "{" not in text and "}" not in text, all(
                field is None or (field.isidentifier() and not spec and not conv)
                for _, field, spec, conv in string.Formatter().parse(text)))
        text, constant, plain = entry
        if constant:
            return text
        if plain:
            return Markup(str.format(text, **{k: escape(v) for k, v in params.items()}))
        if any(field and not field.isdigit() and not field.isidentifier() or "{" in (spec or "")
               for _, field, spec, _ in string.Formatter().parse(text)):
            # a key missing from the catalogue is its own text: {p.__init__.__globals__}
            # would reach past the sandbox through str.format
            raise SecurityError(f"t({key!r}): only plain {{name}} fields may be filled in")
        return text.format(**params)

    return t


def render(env: jinja2.Environment, name: str, **context) -> str:
    """Render a template; any error while rendering (unknown variable, syntax, a filter that
    raised) becomes a TemplateError naming template and line, never a traceback."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(**worded("template.syntax", why=e.message), field=None,
                            kind=f"template {e.name or name} line {e.lineno}") from None
    except jinja2.TemplateNotFound as e:
        raise TemplateError(**worded("template.not_found", name=e.name)) from None
    except (MemberPortalError, MemoryError):  # ours already; out of memory: the limit names it
        raise
    except SecurityError as e:
        raise TemplateError(**worded("template.not_allowed", why=e.message),
                            kind=_where(env, e, name)) from None
    except jinja2.UndefinedError as e:
        raise TemplateError(**worded("template.undefined", why=e.message),
                            kind=_where(env, e, name)) from None
    except Exception as e:  # a filter or a test given the wrong thing: still template and line
        raise TemplateError(**worded("template.failed", error=type(e).__name__, why=str(e)),
                            kind=_where(env, e, name)) from None


def _where(env: jinja2.Environment, exc: BaseException, name: str) -> str:
    """'template NAME line N' of the innermost template frame (an include, a macro's file).

    Jinja2 rewrites tracebacks so template frames carry the template's file and line.
    """
    roots = [Path(p) for p in getattr(env.loader, "searchpath", [])]
    where, tb = (name, "?"), exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == "<template>":
            where = (name, tb.tb_lineno)
        else:
            for root in roots:
                if filename.startswith(str(root) + "/"):
                    where = (filename[len(str(root)) + 1:], tb.tb_lineno)
        tb = tb.tb_next
    return f"template {where[0]} line {where[1]}"


def quote_program(text: str, program: Program, lang: str, shown: str) -> str:
    """Markdown of content/ (file `shown`) with its quotes of the program filled in
    ({{ program.activities.checkin.points }}, {{ t('rule.birthday', days=...) }}): the portal,
    the notebook and the insert read content/ through this. Rendered in a sandbox (no
    attribute starting with _, no callables but ours, no list or dict of the program
    changed, as in every other template), unknown names are errors."""
    if "{{" not in text and "{%" not in text:
        return text
    translate = translator(lang, program.brand.address)
    # a quoted value is text: program text cannot add a link, an image or raw HTML
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                        keep_trailing_newline=True, finalize=markdown_text)
    env.filters.update(money=lambda v: money(v, program.currency_symbol),
                       discount=lambda p: discount(p, lang), md=markdown_text)
    env.globals.update(program=program, brand=program.brand, t=lambda key, **params: translate(
        key, **{k: markdown_text(v) for k, v in params.items()}))
    try:
        return env.from_string(text).render()
    except jinja2.TemplateSyntaxError as e:
        raise InputError(**worded("template.syntax", why=e.message),
                         where=Where(shown, e.lineno)) from None
    except (jinja2.UndefinedError, jinja2.exceptions.SecurityError, TypeError,
            ValueError) as e:
        raise InputError(f"{e}", Where(shown)) from None
