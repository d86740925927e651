"""The portal and personal pages: privacy, Chromium rendering, QR codes, rebuilds, rotation,
atomic swap."""
from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import (
    DAY,
    PORTAL_AS_OF,
    PORTAL_MEMBERS,
    chromium,
    open_page,
    portal_project,
    serve,
    snapshot,
)

from memberportal.cli import cli
from memberportal.core.tokens import CROCKFORD, member_url, page_token, referral_code
from memberportal.inputs.config import site_url
from memberportal.inputs.project import load
from memberportal.inputs.secret import load_secret
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.render.templates import mask_name
from memberportal.site import build as build_mod
from memberportal.site.build import run


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    return portal_project(tmp_path / "brand")


def build(root: Path, **kw):
    return run(root, DAY, show_progress=False, **kw)


def site(root: Path) -> Path:
    return root / "output" / "site"


def tokens_of(root: Path) -> dict[str, str]:
    secret = load_secret(root)
    return {mid: page_token(secret, mid, 0) for mid in PORTAL_MEMBERS}


def test_build_writes_portal_and_one_private_page_per_member(project):
    b = build(project)
    assert not b.failures
    out = site(project)
    for page in ("index.html", "tiers/index.html", "points/index.html", "story/index.html",
                 "participate/checkin/index.html", "ambassador/index.html"):
        assert (out / page).is_file(), page
    tokens = tokens_of(project)
    assert sorted(p.name for p in (out / "m").iterdir() if p.is_dir()) == sorted(tokens.values())
    assert all(len(t) == 26 for t in tokens.values())  # 128 bits in base32
    assert not (out / "m" / "shell").exists()
    assert (project / ".memberportal" / "secret").is_file()
    # the manifest lists tokens, so it lives next to the site, never inside it
    assert (project / "output" / "site-manifest.json").is_file()
    assert not list(out.rglob("*manifest*"))


def test_no_token_name_or_phone_anywhere_public(project):
    build(project)
    out = site(project)
    secrets_ = []
    for mid, (name, phone, _) in PORTAL_MEMBERS.items():
        secrets_ += [tokens_of(project)[mid], name, phone, phone.replace(" ", "")[-8:], mid]
    public = [out / "sitemap.xml", out / "search" / "search_index.json"]
    public += [p for p in out.rglob("*.html") if p.relative_to(out).parts[0] != "m"]
    public.append(out / "m" / "index.html")  # what a directory listing would have shown
    for path in public:
        text = path.read_text(encoding="utf-8")
        for s in secrets_:
            assert s not in text, f"{s!r} in {path.relative_to(out)}"
    sitemap = (out / "sitemap.xml").read_text()
    assert "/m/" not in sitemap and "<loc>https://member.xiaohejia.example/tiers/</loc>" in sitemap
    index = json.loads((out / "search" / "search_index.json").read_text())
    assert index["docs"] and not any(d["location"].startswith("m/") for d in index["docs"])
    assert any(d["location"].startswith("tiers/") for d in index["docs"])


def test_personal_page_is_private_by_construction(project):
    build(project)
    out = site(project)
    for mid, (name, phone, _) in PORTAL_MEMBERS.items():
        html = (out / "m" / tokens_of(project)[mid] / "index.html").read_text(encoding="utf-8")
        assert '<meta name="robots" content="noindex,nofollow">' in html
        assert '<meta name="referrer" content="no-referrer">' in html
        assert 'rel="canonical"' not in html
        assert mask_name(name) in html and name not in html
        assert phone not in html and phone.replace(" ", "") not in html
        loads = re.findall(r'<(?:script|link|img|iframe)\b[^>]*(?:src|href)="([^"]+)"', html)
        # nothing from another host (a data: image is inside the page; base64 may hold '//')
        assert loads and not [u for u in loads if "//" in u and not u.startswith("data:")], loads


def test_home_and_personal_page_in_chromium_and_qr_decodes(project):
    import zxingcpp
    from PIL import Image

    build(project)
    out = site(project)
    secret = load_secret(project)
    token = tokens_of(project)["A001"]
    expected = member_url(site_url(project), secret, "A001", 0)
    assert expected == f"https://member.xiaohejia.example/m/{token}/"
    with serve(out) as base, chromium() as browser:
        reports = [open_page(browser, base + "/", screenshot="portal-home.png"),
                   open_page(browser, base + "/tiers/", screenshot="portal-tiers.png"),
                   open_page(browser, f"{base}/m/{token}/", screenshot="member-page-375.png",
                             width=375, height=812),
                   open_page(browser, f"{base}/m/{token}/", screenshot="member-page-1280.png"),
                   open_page(browser, f"{base}/m/{token}/", screenshot="member-page-no-js.png",
                             scripts=False)]
    for r in reports:
        assert r.status == 200, r.url
        assert r.console_errors == [], (r.url, r.console_errors)
        assert r.foreign_requests == [], (r.url, r.foreign_requests)
    home, tiers, phone_view, desktop, no_js = reports
    assert "小禾家母婴" in home.title
    assert "金禾会员" in tiers.text and "¥3,000" in tiers.text
    assert "王*梅" in phone_view.text and "银禾会员" in phone_view.text
    assert referral_code(secret, "A001") in phone_view.text.replace(" ", "").replace("\n", "")
    # the code is drawn by the page's script (assets/memberportal-qr.js) from its own address;
    # on a phone's screen it is not shown (the page is already open where it would lead)
    found = zxingcpp.read_barcodes(Image.open(desktop.screenshot))
    assert [c.text for c in found if c.format == zxingcpp.BarcodeFormat.QRCode] == [expected]
    assert any(u.endswith("/assets/lean-qr.js") for u in desktop.requests)
    assert zxingcpp.read_barcodes(Image.open(phone_view.screenshot)) == []
    # without scripts the page is whole but for its code, whose section stays hidden
    assert "王*梅" in no_js.text and "银禾会员" in no_js.text
    assert "在手机上打开" in desktop.text and "在手机上打开" not in no_js.text
    assert "在手机上打开" not in phone_view.text
    assert zxingcpp.read_barcodes(Image.open(no_js.screenshot)) == []


def test_tier_change_rebuilds_tiers_page_and_exactly_the_affected_members(project):
    build(project)
    out = site(project)
    before = snapshot(out)
    old_status = {s.member_id: s.to_dict() for s in load(project).statuses(DAY)[0]}
    program = project / "members" / "tiers.yml"
    text = program.read_text(encoding="utf-8")
    assert "threshold: 3000" in text
    program.write_text(text.replace("threshold: 3000", "threshold: 2400"), encoding="utf-8")
    new_status = {s.member_id: s.to_dict() for s in load(project).statuses(DAY)[0]}
    affected = {m for m in PORTAL_MEMBERS if old_status[m] != new_status[m]}
    assert affected and affected != set(PORTAL_MEMBERS)  # the fixture has both kinds

    b = build(project)
    after = snapshot(out)
    assert "¥2,400" in after["tiers/index.html"].decode()
    assert "¥3,000" not in after["tiers/index.html"].decode()
    assert set(b.rendered_members) == affected
    assert b.reused == len(PORTAL_MEMBERS) - len(affected)
    tokens = tokens_of(project)
    changed = {m for m in PORTAL_MEMBERS if before[f"m/{tokens[m]}/index.html"]
               != after[f"m/{tokens[m]}/index.html"]}
    assert changed <= affected and "A002" in changed  # ¥2,500 now reaches gold
    assert "金禾会员" in after[f"m/{tokens['A002']}/index.html"].decode()


def test_unchanged_rebuild_renders_nothing_and_deleted_members_disappear(project):
    build(project)
    again = build(project)
    assert again.rendered == 0 and again.reused == len(PORTAL_MEMBERS)
    gone = tokens_of(project)["A005"]
    (project / "members" / "A005.yml").unlink()
    third = build(project)
    assert third.removed == 1 and third.rendered == 0
    assert not (site(project) / "m" / gone).exists()


def test_a_manifest_entry_not_as_written_renders_that_page_again(project):
    build(project)
    path = project / "output" / "site-manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    broken = tokens_of(project)["A002"]
    del data["pages"][broken]["size"]                    # a hand edit, a cut-off line
    data["pages"][tokens_of(project)["A003"]] = "garbage"
    path.write_text(json.dumps(data), encoding="utf-8")
    again = build(project)
    assert again.rendered == 2 and again.reused == len(PORTAL_MEMBERS) - 2
    assert sorted(again.rendered_members) == ["A002", "A003"]
    assert build(project).rendered == 0                 # and the manifest is whole again


def test_rotate_revokes_the_old_url(project):
    build(project)
    old = tokens_of(project)["A003"]
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "rotate", "A003"])
    assert result.exit_code == 0, result.output
    assert "A003: 1" in (project / ".memberportal" / "rotations.yml").read_text()
    b = build(project)
    new = page_token(load_secret(project), "A003", 1)
    assert not (site(project) / "m" / old).exists()
    assert (site(project) / "m" / new / "index.html").is_file()
    assert b.rendered_members == ["A003"]
    unknown = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "rotate", "A0003"])
    assert unknown.exit_code == 1 and "did you mean A003" in unknown.output


def test_a_crash_mid_build_leaves_the_previous_site_and_no_staging(project, monkeypatch):
    build(project)
    before = snapshot(site(project))
    stages = dict(build_mod.STAGES)

    def crashing_pages(b):
        stages["pages"](b)  # the staging site is complete...
        raise RuntimeError("power cut")  # ...and then the build dies before the swap

    crashing = [(n, crashing_pages if n == "pages" else s) for n, s in build_mod.STAGES]
    (project / "content" / "story.md").write_text("# 新的故事\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        build(project, stages=crashing)
    assert snapshot(site(project)) == before
    assert [p.name for p in (project / "output").iterdir() if p.name.startswith(".")] == \
        [".build.lock"]


def test_leftovers_of_a_killed_build_are_cleaned_and_a_parked_site_restored(project):
    build(project)
    out = project / "output"
    before = snapshot(out / "site")
    (out / ".staging-dead" / "site").mkdir(parents=True)
    os.rename(out / "site", out / ".site-old-123")  # killed between the two renames
    build_mod.recover(out)
    assert snapshot(out / "site") == before
    assert not list(out.glob(".staging-*")) and not list(out.glob(".site-old-*"))


def test_a_failing_page_names_member_the_rest_is_built_and_exit_is_nonzero(project):
    (project / "templates" / "member").mkdir(parents=True)
    original = (BUILTIN_TEMPLATES / "member" /
                "page.html").read_text(encoding="utf-8")
    (project / "templates" / "member" / "page.html").write_text(
        "{% if s.member_id == 'A004' %}{{ no_such_thing }}{% endif %}" + original,
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "--as-of", PORTAL_AS_OF, "build",
                                      "--no-progress"])
    assert result.exit_code == 1
    assert "personal page" in result.output and "member A004" in result.output
    assert "no_such_thing" in result.output and "1 page failed" in result.output
    tokens = tokens_of(project)
    assert (site(project) / "m" / tokens["A001"] / "index.html").is_file()
    assert not (site(project) / "m" / tokens["A004"]).exists()


@pytest.mark.parametrize("name, source", [
    ("tiers.md", "members/tiers.yml"),
    ("assets/memberportal-qr.js", "templates/portal/memberportal-qr.js"),
    ("assets/lean-qr.js", "templates/portal/lean-qr.js")])
def test_a_content_file_memberportal_would_overwrite_stops_the_build(project, name, source):
    (project / "content" / name).parent.mkdir(parents=True, exist_ok=True)
    (project / "content" / name).write_text("mine\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "--as-of", PORTAL_AS_OF, "build",
                                      "--no-progress"])
    assert result.exit_code == 1, result.output
    assert f"content/{name} would be overwritten by the file generated from {source}" \
        in result.output
    assert (project / "content" / name).read_text(encoding="utf-8") == "mine\n"
    assert not site(project).exists()


@pytest.mark.parametrize("record, at, problem", [
    ("activities:\n  - {type: bogus, date: 2026-03-01}\n", "23, member A005, field "
     "'activities.0.type'", "unknown activity 'bogus'"),
    ("tier_override: {tier: platinum, until: 2027-01-01, reason: VIP}\n", "22, member A005, "
     "field 'tier_override.tier'", "unknown tier 'platinum'")])
def test_a_member_naming_what_the_program_lacks_stops_the_build_with_its_error(
        project, record, at, problem):
    # A005 refers nobody, so the build's first pass evaluates it at once: the rules raised
    # KeyError (a traceback) on the unknown activity or tier before this was checked.
    build(project)
    before = snapshot(site(project))
    path = project / "members" / "A005.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("referrals: []\n", record),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "--as-of", PORTAL_AS_OF, "build",
                                      "--no-progress"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"members/A005.yml:{at}: {problem}" in result.output
    assert snapshot(site(project)) == before


def test_referral_code_is_short_crockford_and_stable():
    secret = b"s" * 40
    code = referral_code(secret, "M0001")
    assert len(code) == 8 and set(code) <= set(CROCKFORD)
    assert code == referral_code(secret, "M0001") != referral_code(secret, "M0002")


def test_serve_previews_on_loopback_and_rebuilds_on_change(project):
    import threading
    import urllib.error
    import urllib.request

    from memberportal.serve import serve as preview

    said: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=preview, args=(project, DAY), daemon=True,
                              kwargs={"port": 0, "interval": 0.2, "say": said.append,
                                      "stop": stop})
    thread.start()
    try:
        for _ in range(100):
            if any(m.startswith("serving http://127.0.0.1:") for m in said):
                break
            stop.wait(0.1)
        base = re.search(r"http://127\.0\.0\.1:\d+/", " ".join(said)).group(0)
        assert "小禾家" in urllib.request.urlopen(base).read().decode()
        (project / "content" / "story.md").write_text("# 我们的新故事\n", encoding="utf-8")
        for _ in range(150):
            page = urllib.request.urlopen(base + "story/").read().decode()
            if "我们的新故事" in page:
                break
            stop.wait(0.1)
        assert "我们的新故事" in page
        # The designers' print preview renders from the current files, on demand.
        listing = urllib.request.urlopen(base + "_preview/").read().decode()
        member_id = re.search(r'href="/_preview/insert/([^"]+)"', listing).group(1)
        shown = urllib.request.urlopen(f"{base}_preview/insert/{member_id}").read().decode()
        assert shown.count('src="data:image/png;base64,') == 1
        pdf = urllib.request.urlopen(f"{base}_preview/card/{member_id}.pdf").read()
        assert pdf.startswith(b"%PDF")
        try:
            urllib.request.urlopen(base + "_preview/insert/NOBODY")
            raise AssertionError("an unknown member must not render")
        except urllib.error.HTTPError as e:
            assert e.code == 422 and "no member with id" in e.read().decode()
    finally:
        stop.set()
        thread.join(10)


def test_personal_page_shows_the_cards_verifiable_retention_code(project):
    from memberportal.core.codes import member_refs, verify
    build(project)
    loaded = load(project)
    secret = load_secret(project)
    refs = member_refs(secret, [m.id for m in loaded.members])
    active = [s for s in loaded.statuses(DAY)[0] if any(o.active for o in s.offers)]
    assert active, "the fixture needs a member with an active retention offer"
    for member_id, token in tokens_of(project).items():
        page = (site(project) / "m" / token / "index.html").read_text(encoding="utf-8")
        shown = re.findall(r'class="mp-coupon__code" translate="no">(.*?)</p>', page)
        # each group of four in its own unbreakable span, hyphens between them
        assert all(re.fullmatch(r'(<span class="mp-coupon__group">[0-9A-Z]{4}</span>-){3}'
                                r'<span class="mp-coupon__group">[0-9A-Z]{4}</span>', c)
                   for c in shown), shown
        codes = [re.sub(r"<[^>]+>", "", c) for c in shown]
        if member_id in {s.member_id for s in active}:
            (code,) = codes
            verdict = verify(secret, code, DAY, refs)
            assert (verdict.state, verdict.member_id) == ("valid", member_id)
        else:
            assert codes == []


def test_a_swap_cut_off_midway_is_finished_by_the_next_build(project, monkeypatch):
    build(project)
    path = project / "members" / "A001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("price: 900", "price: 950"),
                    encoding="utf-8")
    page = site(project) / "m" / tokens_of(project)["A001"] / "index.html"
    before = page.read_bytes()
    real = build_mod.apply_journal
    monkeypatch.setattr(build_mod, "apply_journal", lambda *a: (_ for _ in ()).throw(
        RuntimeError("power cut")))  # the journal is written, then the swap dies
    with pytest.raises(RuntimeError):
        build(project)
    [staging] = (project / "output").glob(".staging-*")
    assert (staging / build_mod.JOURNAL).is_file() and page.read_bytes() == before
    monkeypatch.setattr(build_mod, "apply_journal", real)
    assert any("finished the swap" in d for d in build_mod.recover(project / "output"))
    assert page.read_bytes() != before and "950" in page.read_text(encoding="utf-8")
    assert not list((project / "output").glob(".staging-*"))
    again = build(project)
    assert again.rendered == 0 and again.reused == len(PORTAL_MEMBERS)


def test_the_collector_stays_off_after_a_build_only_in_the_one_command_program(
        project, monkeypatch):
    """`memberportal build` ends after the build: run(then_exit=True) leaves the garbage
    collector off (turned on it would pass once over everything the build made). Where the
    command runs inside another process (CliRunner here) it is back on afterwards."""
    import gc
    import sys

    from memberportal import cli as cli_mod
    assert gc.isenabled()
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(project), "--as-of", PORTAL_AS_OF, "build",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled()

    calls = []

    def recorded(*args, **kw):
        calls.append(kw)
        return run(*args, **kw)

    monkeypatch.setattr(cli_mod, "_one_command", False)  # restored afterwards
    monkeypatch.setattr(build_mod, "run", recorded)
    monkeypatch.setattr(sys, "argv", ["memberportal", "-C", str(project), "--as-of", PORTAL_AS_OF,
                                      "build", "--no-progress"])
    try:
        with pytest.raises(SystemExit) as end:
            cli_mod.main()
        assert end.value.code == 0
        assert calls and calls[0]["then_exit"] is True
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pages_put_live_in_place_show_a_progress_bar(project, monkeypatch):
    build(project)
    path = project / "members" / "A001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("price: 900", "price: 950"),
                    encoding="utf-8")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    again = run(project, DAY, show_progress=True)
    assert again.rendered == 1 and again.reused == len(PORTAL_MEMBERS) - 1
    shown = terminal.getvalue()
    assert "\rputting pages live" in shown and "| 0/1 [00:00<?, ?page/s]" in shown


def test_removing_the_old_site_after_a_full_exchange_is_timed(project, monkeypatch):
    """Every page changes (a new page template): the staged site is exchanged whole and the
    old one, left in staging, is deleted before run() returns, timed as "cleanup"."""
    first = build(project)
    assert set(first.timings) >= {"gather", "pages", "swap", "cleanup"}
    (project / "templates" / "member").mkdir(parents=True)
    original = (BUILTIN_TEMPLATES / "member" /
                "page.html").read_text(encoding="utf-8")
    (project / "templates" / "member" / "page.html").write_text(
        "<!-- v2 -->" + original, encoding="utf-8")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    again = run(project, DAY, show_progress=True)
    assert again.rendered == len(PORTAL_MEMBERS) and again.reused == 0
    assert again.timings["cleanup"] >= 0
    shown = terminal.getvalue()              # a progress bar while the old pages go
    assert "\rremoving the" in shown and f"| 0/{len(PORTAL_MEMBERS)} [00:00<?, ?page/s]" in shown
    assert sorted(p.name for p in (project / "output").iterdir()) == [
        ".build.lock", "portal-state.json", "site", "site-manifest.json"]
    page = site(project) / "m" / tokens_of(project)["A001"] / "index.html"
    assert "<!-- v2 -->" in page.read_text(encoding="utf-8")
