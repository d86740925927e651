"""templates.environment: t() compiled as a filter reads exactly like the plain call."""
from __future__ import annotations

import string

import jinja2
import pytest
from markupsafe import Markup

from memberportal.errors import TemplateError
from memberportal.render.messages import CATALOGUE, word
from memberportal.render.templates import environment, render, translator


def env_with(**sources) -> jinja2.Environment:
    return environment([], "zh", loader=jinja2.DictLoader(sources))


def plain_t(key, **params):  # what t() was before it was compiled as a filter
    return Markup.escape(word(key, "zh")).format(**params)


@pytest.mark.parametrize("lang", sorted(CATALOGUE))
def test_translator_gives_what_markup_format_gives_for_every_entry(lang):
    t = translator(lang)
    for key in [*CATALOGUE[lang], "no.such.key", "{x}", "a {{b}} {c}"]:
        text = word(key, lang)
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        for params in ({}, dict.fromkeys(fields, '<b>&"x'),
                       dict.fromkeys(fields, Markup("<i>ok</i>")),
                       {**dict.fromkeys(fields, 3), "extra": 1}):
            try:
                want = Markup.escape(text).format(**params)
            except Exception as e:  # noqa: BLE001 - the same error either way
                want = type(e)
            try:
                got = t(key, **params)
            except Exception as e:  # noqa: BLE001
                got = type(e)
            assert got == want and type(got) is type(want), (key, params)


def test_constant_and_computed_translations_render_like_the_plain_call():
    source = ("<p title=\"{{ t('page.qr') }}\">{{ t('page.greeting', name=n) }}"
              "{{ t('page.greeting', name='<b>') }}{{ t('page.' ~ k) }}"
              "{{ t('page.as_of', date='2026' | nowrap) }}{{ t('page.today') ~ '<i>' }}</p>")
    env = env_with(**{"p.html": source})
    plain = env_with(**{"p.html": "{% set t = plain %}" + source})  # binds t: not compiled
    context = {"n": "<王>", "k": "private", "plain": plain_t}
    got = render(env, "p.html", **context)
    assert got == render(plain, "p.html", **context)
    assert "&lt;王&gt;" in got and "&lt;b&gt;" in got and "&lt;i&gt;" in got
    assert env.compile(source, raw=True).count("在手机上打开") == 1  # folded at compile time


def test_a_template_naming_t_itself_keeps_its_own():
    env = env_with(**{"a.html": "{% set t = 'mine' %}{{ t }}",
                      "b.html": "{% macro m(t) %}{{ t('x') }}{% endmacro %}{{ m(f) }}",
                      "c.html": "{% for t in [f] %}{{ t('y') }}{% endfor %}"})
    assert render(env, "a.html") == "mine"
    assert render(env, "b.html", f=lambda k: k.upper()) == "X"
    assert render(env, "c.html", f=lambda k: k * 2) == "yy"


def test_a_missing_parameter_names_template_and_line():
    env = env_with(**{"p.html": "<p>\n{{ t('page.greeting') }}</p>"})
    with pytest.raises(TemplateError) as err:
        render(env, "p.html")
    assert "line 2" in str(err.value) and "name" in str(err.value)
