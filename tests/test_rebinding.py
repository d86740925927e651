"""`serve` answers only its own loopback names: a page elsewhere that rebinds its DNS name to
127.0.0.1 (DNS rebinding) must not read the preview, the pages or the private addresses."""
from __future__ import annotations

import http.client
import re
import threading

import pytest
from helpers import DAY, portal_project

from memberportal.serve import host_allowed, serve


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    root = portal_project(tmp_path_factory.mktemp("rebinding") / "brand")
    said: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(root, DAY), daemon=True,
                              kwargs={"port": 0, "interval": 5, "say": said.append, "stop": stop})
    thread.start()
    for _ in range(300):
        if any(m.startswith("serving http://127.0.0.1:") for m in said):
            break
        stop.wait(0.1)
    yield int(re.search(r"http://127\.0\.0\.1:(\d+)/", " ".join(said)).group(1))
    stop.set()
    thread.join(10)


def get(port: int, path: str, host: str | list[str] | None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=True)
    for h in [host] if isinstance(host, str) else host or []:
        conn.putheader("Host", h)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_own_loopback_names_with_the_port_are_answered(port, name):
    status, body = get(port, "/", f"{name}:{port}")
    assert status == 200 and "小禾家".encode() in body
    status, body = get(port, "/_preview/", f"{name}:{port}")
    assert status == 200 and b"/_preview/insert/" in body


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:{port}", "attacker.test:80", "127.0.0.1.nip.io:{port}",
    "localhost.evil.example:{port}", "127.0.0.1:{port}.evil.example", "127.0.0.1",
    "localhost", "127.0.0.1:1", "0.0.0.0:{port}", "127.1:{port}", "[::1]",
    "user@127.0.0.1:{port}", "", " ",
])
@pytest.mark.parametrize("path", ["/", "/_preview/", "/site-manifest.json"])
def test_any_other_host_is_refused(port, host, path):
    for method in ("GET", "HEAD"):
        status, body = get(port, path, host.format(port=port), method)
        assert status == 421, (host, path, method)
        assert "小禾家".encode() not in body and b"_preview/insert" not in body


def test_no_host_or_two_hosts_are_refused(port):
    assert get(port, "/_preview/", None)[0] == 421
    assert get(port, "/_preview/", [f"127.0.0.1:{port}", "evil.example"])[0] == 421
    assert get(port, "/_preview/", ["evil.example", f"127.0.0.1:{port}"])[0] == 421


def test_host_policy_needs_the_exact_port():
    assert host_allowed("127.0.0.1:8000", 8000) and host_allowed("localhost:8000", 8000)
    assert not host_allowed("127.0.0.1:8001", 8000)
    assert not host_allowed("evil.example:8000", 8000)
    assert host_allowed("localhost", 80) and not host_allowed("localhost", 8000)
