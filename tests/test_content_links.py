"""The portal publishes content/ and the program as text: no link in content/ reaches the
secret, member files or the staff report, and program text in tiers.yml cannot become a link,
an image, an attribute list or raw HTML on the portal's pages."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import DAY, portal_project

from memberportal.errors import InputError
from memberportal.inputs.secret import load_secret
from memberportal.site.build import run

STAFF_LINE = "13812345678 staff only"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    root = portal_project(tmp_path / "brand")
    load_secret(root, create=True)
    (root / "output" / "staff").mkdir(parents=True)
    (root / "output" / "staff" / "report.html").write_text(STAFF_LINE, encoding="utf-8")
    return root


def build(root: Path):
    return run(root, DAY, show_progress=False)


def published(root: Path) -> str:
    site = root / "output" / "site"
    if not site.is_dir():
        return ""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in site.rglob("*")
                     if p.is_file())


def secret_text(root: Path) -> str:
    return (root / ".memberportal" / "secret").read_text(encoding="ascii").strip()


LINKS = {
    "the secret": (".memberportal/secret", "secret.md"),
    "the secret as a page": (".memberportal/secret", "about/secret.txt"),
    "a member file": ("members/A001.yml", "a001.md"),
    "the members folder": ("members", "people"),
    "the staff report": ("output/staff/report.html", "report.html"),
    "the staff folder": ("output/staff", "staff"),
    "a file outside the brand": ("/etc/hostname", "host.md"),
}


@pytest.mark.parametrize("case", LINKS)
def test_a_link_out_of_content_is_refused_naming_it_and_nothing_is_published(project, case):
    target, name = LINKS[case]
    link = project / "content" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target if target.startswith("/") else project / target)
    with pytest.raises(InputError) as caught:
        build(project)
    assert f"content/{name} is a link to" in str(caught.value)
    text = published(project)
    assert secret_text(project) not in text and STAFF_LINE not in text
    assert "13800000001" not in text


def test_a_relative_link_climbing_out_and_a_link_inside_a_linked_chain_are_refused(project):
    (project / "content" / "up.md").symlink_to("../.memberportal/secret")
    (project / "content" / "hop.md").symlink_to("up.md")  # inside, but leads out
    with pytest.raises(InputError) as caught:
        build(project)
    assert "content/up.md is a link to" in str(caught.value)
    assert "content/hop.md is a link to" in str(caught.value)
    assert secret_text(project) not in published(project)


def test_content_itself_a_link_is_refused(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (project / "content").rename(elsewhere)
    (project / "content").symlink_to(project)  # the whole project: members, output, secret
    with pytest.raises(InputError, match="content/ is a link to"):
        build(project)
    assert secret_text(project) not in published(project)


def test_a_hard_link_to_the_secret_or_a_member_file_is_refused(project):
    os.link(project / ".memberportal" / "secret", project / "content" / "s.md")
    os.link(project / "members" / "A001.yml", project / "content" / "m.md")
    with pytest.raises(InputError) as caught:
        build(project)
    assert "content/s.md is a hard link to .memberportal/secret" in str(caught.value)
    assert "content/m.md is a hard link to members/A001.yml" in str(caught.value)


def test_a_hard_link_to_any_other_file_is_refused(project, tmp_path):
    outside = tmp_path / "diary.md"
    outside.write_text("# 私人日记 13800138000\n", encoding="utf-8")
    os.link(outside, project / "content" / "diary.md")
    (project / "content" / "a.md").write_text("# A\n", encoding="utf-8")
    os.link(project / "content" / "a.md", project / "content" / "b.md")
    with pytest.raises(InputError) as caught:
        build(project)
    message = str(caught.value)
    assert "content/diary.md is a hard link (2 names for one file)" in message
    assert "cp, not ln" in message
    assert "content/b.md is a hard link" in message
    assert "13800138000" not in published(project)


def test_a_fifo_in_content_is_refused_not_read(project):
    os.mkfifo(project / "content" / "pipe.md")
    with pytest.raises(InputError, match="content/pipe.md is not a file"):
        build(project)


def test_a_link_to_a_file_inside_content_is_published_as_that_file(project):
    (project / "content" / "story.md").write_text("# 我们的故事\n", encoding="utf-8")
    (project / "content" / "about").mkdir(exist_ok=True)
    (project / "content" / "about" / "story.md").symlink_to("../story.md")
    build(project)
    page = project / "output" / "site" / "about" / "story" / "index.html"
    assert "我们的故事" in page.read_text(encoding="utf-8")


HOSTILE = {
    "link": "[点我领券](javascript:alert(document.cookie))",
    "image": "![x](https://evil.example/pixel.png)",
    "attributes": "好礼 {: onclick=\"alert(1)\" }",
    "html": "<img src=x onerror=alert(1)>",
    "autolink": "<javascript:alert(1)>",
    "reference": "[a][r]\n\n[r]: javascript:alert(1)",
    "block": "\n\n<script>alert(1)</script>\n\n# 标题",
    "table break": "a | <b onmouseover=alert(1)>b</b> |",
}


def hostile_program(root: Path, value: str) -> None:
    path = root / "members" / "tiers.yml"
    text = path.read_text(encoding="utf-8")
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    for old in ("全店商品享会员专属折扣", "生日礼", "银禾会员", "每日签到"):
        assert old in text
        text = text.replace(f"description: {old}", f"description: {quoted}").replace(
            f"name: {old}", f"name: {quoted}")
    path.write_text(text, encoding="utf-8")


def assert_inert(html: str) -> None:
    body = html.split("<article", 1)[-1]
    assert not re.search(r"<a\b[^>]*href=\"javascript", body, re.I)
    assert not re.search(r"<img\b[^>]*evil\.example", body)
    assert not re.search(r"<img\b[^>]*onerror", body, re.I)
    assert not re.search(r"\bon(click|error|mouseover)\s*=", body, re.I)
    assert "<script>alert" not in body


@pytest.mark.parametrize("case", HOSTILE)
def test_program_text_is_text_on_the_portal(project, case):
    hostile_program(project, HOSTILE[case])
    (project / "content" / "quote.md").write_text(
        "# 引用\n\n{{ program.benefits.member_price.description }} "
        "{{ program.activities.checkin.name }} {{ t('portal.tiers.intro', "
        "brand=program.benefits.birthday_gift.name) }}\n", encoding="utf-8")
    build(project)
    site = project / "output" / "site"
    for page in ("tiers/index.html", "points/index.html", "quote/index.html"):
        html = (site / page).read_text(encoding="utf-8")
        assert_inert(html)
    tiers = (site / "tiers" / "index.html").read_text(encoding="utf-8")
    # shown as the characters that were typed (one line)
    shown = " ".join(HOSTILE[case].split())
    assert shown in _text_of(tiers)
    assert shown in _text_of((site / "quote" / "index.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", HOSTILE)
def test_a_projects_own_md_template_without_md_still_writes_program_text_as_text(project, case):
    hostile_program(project, HOSTILE[case])
    own = project / "templates" / "portal" / "tiers.md.j2"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(  # the designer forgot |md everywhere
        "# {{ program.tiers[1].name }}\n\n"
        "{% for id, b in program.benefits.items() %}\n- {{ b.name }}: {{ b.description }}\n"
        "{% endfor %}\n{{ t('portal.tiers.intro', brand=program.benefits.birthday_gift.name) }}"
        "\n\n<p>{{ program.activities.checkin.name }}</p>\n", encoding="utf-8")
    build(project)
    html = (project / "output" / "site" / "tiers" / "index.html").read_text(encoding="utf-8")
    assert_inert(html)
    assert " ".join(HOSTILE[case].split()) in _text_of(html)   # shown as typed


def _text_of(html: str) -> str:
    from html.parser import HTMLParser

    parts: list[str] = []

    class P(HTMLParser):
        def handle_data(self, data):
            parts.append(data)

    P(convert_charrefs=True).feed(html)
    return " ".join(" ".join(parts).split())
