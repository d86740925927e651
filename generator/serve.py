"""Local preview: serve output/site on 127.0.0.1 and rebuild when an input changes."""
from __future__ import annotations

import base64
import functools
import html
import http.server
import threading
import time
from datetime import date
from pathlib import Path
from typing import Callable

from memberportal.errors import MemberPortalError
from memberportal.inputs.project import load
from memberportal.inputs.secret import load_secret
from memberportal.layout import BUILTIN_TEMPLATES, OUTPUT_DIR, SITE_DIR
from memberportal.render.messages import error_text, word
from memberportal.render.templates import mask_name
from memberportal.runtime.terminal import echo
from memberportal.site.build import run

WATCHED = ("mkdocs.yml", "content", "members", "templates", ".memberportal/rotations.yml")


def inputs_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every watched file (and the built-in templates) with its modification time, size and
    inode change time (an edit by cp -p keeps the first two)."""
    watched = [root / name for name in WATCHED]
    if BUILTIN_TEMPLATES != (root / "templates").resolve():
        watched.append(BUILTIN_TEMPLATES)
    state = {}
    for path in watched:
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in files:
            if f.is_file():
                st = f.stat()
                state[str(f)] = (st.st_mtime_ns, st.st_size, st.st_ctime_ns)
    return state


PREVIEW = "/_preview/"
PREVIEW_KINDS = ("insert", "card", "notebook")


def preview_response(root: Path, as_of: date, lang: str, path: str) -> tuple[int, str, bytes]:
    """The designers' print preview: /_preview/ lists members, /_preview/KIND/ID shows the
    piece as the printer gets it (PNG pages and the PDF), rendered from the current files."""
    from memberportal.print.contexts import make_job
    from memberportal.print.preview import preview
    parts = [p for p in path[len(PREVIEW):].split("/") if p]
    try:
        project = load(root)
        if not parts:
            rows = "".join(
                f"<tr><td>{html.escape(m.id)}</td><td>{html.escape(mask_name(m.name))}</td>"
                + "".join(f'<td><a href="{PREVIEW}{k}/{html.escape(m.id)}">{k}</a></td>'
                          for k in PREVIEW_KINDS) + "</tr>" for m in project.members)
            return 200, "text/html", _page("print preview",
                                           f'<div class="wide"><table>{rows}</table></div>')
        if len(parts) != 2 or parts[0] not in PREVIEW_KINDS:
            return 404, "text/plain", b"not found"
        kind, name = parts
        member_id = name.removesuffix(".pdf")
        job = make_job(project, as_of, lang, load_secret(root, create=True))
        pdf, *pngs = preview(job, project, kind, member_id)
        if name.endswith(".pdf"):
            return 200, "application/pdf", pdf.read_bytes()
        images = "".join(f'<img alt="page {i + 1}" src="data:image/png;base64,'
                         f'{base64.b64encode(p.read_bytes()).decode()}">'
                         for i, p in enumerate(pngs))
        body = (f'<p><a href="{PREVIEW}">all members</a> · '
                f'<a href="{PREVIEW}{kind}/{html.escape(member_id)}.pdf">PDF</a></p>{images}')
        return 200, "text/html", _page(f"{kind} {member_id}", body)
    except MemberPortalError as e:
        return 422, "text/html", _page("cannot render", f"<pre>{html.escape(str(e))}</pre>")


def _page(title: str, body: str) -> bytes:
    return (f'<!doctype html><html lang="zh"><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><style>'
            'body{font-family:sans-serif;margin:1rem;background:#eee}'
            'img{display:block;margin:1rem 0;box-shadow:0 1px 6px #0003;max-width:100%}'
            '.wide{overflow-x:auto}td{padding:.2rem .8rem;white-space:nowrap}</style>'
            f'<h1>{html.escape(title)}</h1>{body}</html>').encode()


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def host_allowed(host: str | None, port: int) -> bool:
    """Only the loopback names with our own port: a page elsewhere that rebinds its DNS name
    to 127.0.0.1 still sends its own name in Host, and gets nothing (DNS rebinding)."""
    if not host:
        return False
    return host.strip().lower() in {f"{n}:{port}" for n in LOOPBACK_NAMES} | (
        set(LOOPBACK_NAMES) if port == 80 else set())


class _Handler(http.server.SimpleHTTPRequestHandler):
    preview: Callable[[str], tuple[int, str, bytes]] | None = None

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not host_allowed(hosts[0], self.server.server_address[1]):
            self.send_error(421, "Misdirected Request",
                            "this preview answers only http://127.0.0.1, localhost or [::1] "
                            "with its own port")
            return False
        return True

    def do_GET(self):
        if self.preview and self.path.startswith(PREVIEW):
            status, kind, body = self.preview(self.path.split("?")[0])
            self.send_response(status)
            self.send_header("Content-Type", kind + ("; charset=utf-8" if "text" in kind else ""))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def rebuild(root: Path, as_of: date, say: Callable[[str], None] = echo,
            cli_lang: str = "en") -> None:
    """A preview build: the site is rebuilt, the published tiers (the staff report's
    comparison point) stay as the last `build` left them."""
    start = time.perf_counter()
    try:
        b = run(root, as_of, show_progress=False, publish=False)
    except MemberPortalError as e:
        say(word("serve.failed", cli_lang) + error_text(e, cli_lang))
        return
    for e in b.failures:
        say(error_text(e, cli_lang))
    say(word("serve.built", cli_lang).format(secs=f"{time.perf_counter() - start:.1f}",
                                             rendered=b.rendered, reused=b.reused,
                                             failed=len(b.failures)))


def serve(root: Path, as_of: date, port: int = 8000, interval: float = 1.0,
          say: Callable[[str], None] = echo, stop: threading.Event | None = None,
          lang: str = "zh", cli_lang: str = "en") -> None:
    """Build, serve and rebuild on change until interrupted (or `stop` is set); `lang` is the
    brand's (the print preview), `cli_lang` the command line's (what it says)."""
    stop = stop or threading.Event()

    rebuild(root, as_of, say, cli_lang)
    site = root / OUTPUT_DIR / SITE_DIR
    previewer = functools.partial(preview_response, root, as_of, lang)
    handler = functools.partial(type("Handler", (_Handler,), {"preview": staticmethod(previewer)}),
                                directory=str(site))  # the path survives each swap
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(word("serve.serving", cli_lang).format(
        url=f"http://127.0.0.1:{server.server_address[1]}/", watched=", ".join(WATCHED),
        preview=PREVIEW))
    state = inputs_state(root)
    try:
        while not stop.wait(interval):
            now = inputs_state(root)
            if now != state:
                state = now
                say(word("serve.change", cli_lang))
                rebuild(root, as_of, say, cli_lang)
                state = inputs_state(root)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
