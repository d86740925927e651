"""pages.page_for: the digest changes whenever anything the page shows changes."""
from __future__ import annotations

from datetime import date

import pytest
from helpers import DAY, portal_project

from memberportal.core.models import Program
from memberportal.inputs.project import load
from memberportal.site.pages import page_for

SECRET = b"s" * 32


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    project = load(portal_project(tmp_path_factory.mktemp("pages") / "brand"))
    member = project.members[0]
    return project, member, project.status(member, DAY)


def digest(member, status, program, generation=0, site="https://m.example/", lang="zh",
           fingerprint="f"):
    return page_for(member, status, program, SECRET, generation, site, lang, fingerprint).digest


def changed(program: Program, **parts) -> Program:
    data = program.model_dump()
    for path, value in parts.items():
        *keys, last = path.split("__")
        target = data
        for key in keys:
            target = target[int(key) if key.isdigit() else key]
        target[last] = value
    return Program.model_validate(data)


def test_every_part_the_page_shows_changes_the_digest(brand):
    project, member, status = brand
    program = project.program
    base = digest(member, status, program)
    assert base == digest(member, status, program)  # the same inputs: the same digest
    sku = status.recommendations[0].sku
    product = next(i for i, p in enumerate(program.products) if p.sku == sku)
    programs = {
        "brand colour": changed(program, brand__color="#123456"),
        "brand service": changed(program, brand__service="客服 24 小时"),
        "price of a recommended product": changed(
            program, **{f"products__{product}__price": program.products[product].price + 1}),
        "currency symbol": changed(program, currency_symbol="$"),
        "ambassador name": changed(program, ambassador__name="品牌大使"),
        "ambassador referrals": changed(program, ambassador__min_referrals=5),
        "qualification window": changed(program, qualification__window="calendar_year"),
    }
    digests = {name: digest(member, status, p) for name, p in programs.items()}
    digests |= {
        "generation": digest(member, status, program, generation=1),
        "site url": digest(member, status, program, site="https://other.example/"),
        "language": digest(member, status, program, lang="en"),
        "shell, templates or code": digest(member, status, program, fingerprint="g"),
        "member name": digest(member.model_copy(update={"name": "张三丰"}), status, program),
        "member segments": digest(member.model_copy(update={"segments": ["新手妈妈"]}),
                                  status, program),
        "status (as of another day)": digest(member, project.status(member, date(2026, 12, 1)),
                                             program),
    }
    same = [name for name, d in digests.items() if d == base]
    assert not same, f"the digest ignores: {same}"
    assert len(set(digests.values())) == len(digests)


def test_the_shell_loses_indentation_but_not_a_space_nor_verbatim_text():
    from memberportal.site.portal import _squeeze
    html = ('<nav>\n    <a>首页</a>\n\n    <a>积分</a> <b>x</b>\n  </nav>\n'
            '<pre>\n  kept\n\n    as is</pre>\n  <script>var a = "x";\n\n  b()</SCRIPT >  \n'
            '<textarea>\n\n t</textarea>')
    assert _squeeze(html) == ('<nav>\n<a>首页</a>\n<a>积分</a> <b>x</b>\n</nav>\n'
                              '<pre>\n  kept\n\n    as is</pre>\n<script>var a = "x";\n\n  b()'
                              '</SCRIPT >\n<textarea>\n\n t</textarea>')
