"""Local preview: serve output/site on 127.0.0.1 and rebuild when an input changes."""
from __future__ import annotations

import functools
import http.server
import threading
import time
from datetime import date
from pathlib import Path
from typing import Callable

from .build import OUTPUT_DIR, SITE_DIR, run
from .errors import MemberPortalError
from .templates import BUILTIN_TEMPLATES

WATCHED = ("mkdocs.yml", "content", "members", "templates", ".memberportal/rotations.yml")


def inputs_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every watched file with its modification time and size."""
    state = {}
    for name in WATCHED:
        path = root / name
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in files:
            if f.is_file():
                st = f.stat()
                state[str(f)] = (st.st_mtime_ns, st.st_size)
    if BUILTIN_TEMPLATES.is_dir() and BUILTIN_TEMPLATES != (root / "templates").resolve():
        for f in sorted(BUILTIN_TEMPLATES.rglob("*")):
            if f.is_file():
                st = f.stat()
                state[str(f)] = (st.st_mtime_ns, st.st_size)
    return state


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path, as_of: date, port: int = 8000, interval: float = 1.0,
          say: Callable[[str], None] = print, stop: threading.Event | None = None) -> None:
    """Build, serve and rebuild on change until interrupted (or `stop` is set)."""
    stop = stop or threading.Event()

    def rebuild() -> None:
        start = time.perf_counter()
        try:
            b = run(root, as_of, show_progress=False)
        except MemberPortalError as e:
            say(f"build failed, still serving the last good site:\n{e}")
            return
        for e in b.failures:
            say(str(e))
        say(f"built in {time.perf_counter() - start:.1f}s: {b.rendered} pages rendered, "
            f"{b.reused} unchanged, {len(b.failures)} failed")

    rebuild()
    site = root / OUTPUT_DIR / SITE_DIR
    handler = functools.partial(_Handler, directory=str(site))  # the path survives each swap
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(f"serving http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop); "
        f"watching {', '.join(WATCHED)}")
    state = inputs_state(root)
    try:
        while not stop.wait(interval):
            now = inputs_state(root)
            if now != state:
                state = now
                say("change seen, rebuilding…")
                rebuild()
                state = inputs_state(root)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
