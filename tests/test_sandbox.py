"""Templates cannot run code: every renderer is sandboxed, and no template is read through a
link out of its folder."""
from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest
from click.testing import CliRunner
from helpers import RENDERERS, print_project

from memberportal.cli import cli
from memberportal.errors import TemplateError
from memberportal.render.templates import environment, render

SECRET = "sandbox-test-secret-0123456789abcdef0123456789"
RUN = "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}"

# Ways out of a template that a plain Jinja environment allows.
ESCAPES = {
    "globals through a class": RUN,
    "builtins through a string": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "a global function's globals": "{{ lipsum.__globals__['os'].popen('touch PWNED') }}",
    "the attr filter": "{{ (joiner|attr('__init__')|attr('__globals__'))['os'] }}",
    "map by attribute": "{{ [cycler]|map(attribute='__init__')|list }}",
    "the template's context": "{{ self._TemplateReference__context }}",
    "a format string": "{{ '{0.__init__.__globals__[os].environ}'.format(cycler) }}",
    "a format_map": "{{ '{x.__class__}'.format_map({'x': cycler}) }}",
    "t() with a missing key as format":
        "{{ t('{p.__init__.__globals__[os].environ}', p=cycler) }}",
    "t() with a nested format spec": "{{ t('{p:{q.__class__}}', p=1, q=cycler) }}",
    "changing a list it is given": "{{ members.append(1) }}",
    "changing a dict it is given": "{{ data.update(a=1) }}",
    "a huge range": "{{ range(10**12)|length }}",
}


def env_with(**sources) -> jinja2.Environment:
    return environment([], "zh", loader=jinja2.DictLoader(sources))


@pytest.mark.parametrize("case", ESCAPES)
def test_every_way_out_of_the_sandbox_is_a_template_error_naming_template_and_line(
        case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = env_with(**{"p.html": "one\ntwo\n" + ESCAPES[case] + "\n"})
    with pytest.raises(TemplateError) as caught:
        render(env, "p.html", members=[1, 2], data={"a": 0})
    assert caught.value.kind == "template p.html line 3", caught.value
    assert not (tmp_path / "PWNED").exists()
    assert "MEMBERPORTAL" not in str(caught.value)


def test_what_templates_need_still_works_in_the_sandbox():
    env = env_with(p=("{% set room = namespace(mm=3) %}{% set room.mm = room.mm + 1 %}"
                      "{{ room.mm }} {{ '{:,}'.format(12345) }} {{ data.items()|list|length }} "
                      "{{ 'ab'|upper }} {{ t('page.qr') }} {{ t('{n}!', n='<x>') }} "
                      "{% for c in members %}{{ loop.cycle('a', 'b') }}{% endfor %} "
                      "{{ '王晓梅'|mask }} {{ range(3)|sum }}"))
    got = render(env, "p", members=[1, 2, 3], data={"a": 1})
    assert got == "4 12,345 1 AB 在手机上打开 &lt;x&gt;! aba 王*梅 3", got


def test_the_compile_time_translations_still_fold_in_the_sandbox():
    env = env_with()
    assert isinstance(env, jinja2.sandbox.ImmutableSandboxedEnvironment)
    assert env.compile("{{ t('page.qr') }}", raw=True).count("在手机上打开") == 1


def test_a_link_out_of_the_templates_folder_is_refused(tmp_path):
    folder = tmp_path / "templates"
    (folder / "member").mkdir(parents=True)
    secret = tmp_path / ".memberportal" / "secret"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    (folder / "member" / "s.txt").symlink_to(secret)
    (folder / "outside").symlink_to(tmp_path / ".memberportal", target_is_directory=True)
    (folder / "member" / "ok.txt").write_text("fine")
    (folder / "member" / "alias.txt").symlink_to(folder / "member" / "ok.txt")  # inside: fine
    (folder / "member" / "p.html").write_text("{% include 'member/alias.txt' %}\n"
                                              "{% include WHICH %}\n")
    env = environment([folder])
    for which in ("member/s.txt", "outside/secret"):
        with pytest.raises(TemplateError) as caught:
            render(env, "member/p.html", WHICH=which)
        assert "link" in caught.value.message and str(secret) in caught.value.message
        assert caught.value.kind == f"template {which}"
        assert SECRET not in str(caught.value)
    assert render(env, "member/p.html", WHICH="member/ok.txt") == "finefine"




def brand(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    root = print_project(tmp_path / "brand")
    (root / "mkdocs.yml").write_text("site_url: https://member.test.example/\n"
                                     "theme:\n  name: material\n  font: false\n"
                                     "extra:\n  generator: false\n  memberportal_example: true\n")
    monkeypatch.chdir(root)
    return root


def run(root: Path, command: list[str]):
    return CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", "2026-11-24", *command])


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_template_running_a_command_fails_in_every_renderer(tmp_path, monkeypatch, renderer):
    root = brand(tmp_path, monkeypatch)
    template, command = RENDERERS[renderer]
    target = root / "templates" / template
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("first line\nsecond line\n" + RUN + "\n", encoding="utf-8")
    result = run(root, command)
    assert result.exit_code == 1, result.output
    assert f"template {template} line 3" in result.output, result.output
    assert "not allowed in a template" in result.output, result.output
    assert "Traceback" not in result.output
    assert not (root / "PWNED").exists() and not (tmp_path / "PWNED").exists()


def test_a_linked_secret_included_by_a_personal_page_is_refused_and_not_published(
        tmp_path, monkeypatch):
    root = brand(tmp_path, monkeypatch)
    monkeypatch.delenv("MEMBERPORTAL_SECRET")
    (root / ".memberportal").mkdir()
    (root / ".memberportal" / "secret").write_text(SECRET + "\n")
    os.chmod(root / ".memberportal" / "secret", 0o600)
    page = (Path(__file__).parent.parent / "templates" / "member" / "page.html").read_text()
    (root / "templates" / "member").mkdir(parents=True)
    (root / "templates" / "member" / "about.txt").symlink_to(root / ".memberportal" / "secret")
    (root / "templates" / "member" / "page.html").write_text(
        page + "{% include 'member/about.txt' %}\n")
    result = run(root, ["build", "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "template member/about.txt" in result.output and "link" in result.output
    assert SECRET not in result.output
    for path in (root / "output").rglob("*") if (root / "output").exists() else []:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
