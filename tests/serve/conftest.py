"""A real ``edgedigits serve`` (uvicorn on 127.0.0.1, a free port) for the HTTP tests, and a small client."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette", reason="the web stack is not installed (pip install 'edgedigits[serve]')")

TOKEN = "s3cret-token-for-tests"


@dataclass
class Server:
    """A running ``edgedigits serve`` subprocess."""

    process: subprocess.Popen
    url: str
    stderr_path: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname

    @property
    def port(self) -> int:
        return urlsplit(self.url).port

    def log(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
    ):
        """(status, headers, body bytes) of one request on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        status, head, data = self.request(method, path, body, headers)
        assert head.get("content-type", "").startswith("application/json"), (status, head, data[:200])
        return status, json.loads(data)

    def stop(self, sig=None) -> int:
        if self.process.poll() is None:
            self.process.terminate() if sig is None else self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def start_server(tmp_path, *args, env: dict | None = None, wait: float = 60.0) -> Server:
    """Start ``edgedigits serve --port 0 ARGS`` and wait until it says where it listens."""
    stderr_path = str(tmp_path / f"serve-{time.monotonic_ns()}.log")
    full_env = {**os.environ, "EDGEDIGITS_TOKEN": "", **(env or {})}
    with open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "edgedigits", "serve", "--port", "0", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=full_env,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with open(stderr_path, encoding="utf-8", errors="replace") as f:
            match = re.search(r"listening on (http://\S+?)/?$", f.read(), re.M)
        if match:
            return Server(process, match.group(1), stderr_path)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        pytest.fail(f"edgedigits serve did not start: {f.read()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with the demo as its live source, no token, a 1 MB body limit and a 4 Mpx image limit."""
    s = start_server(
        tmp_path_factory.mktemp("serve"), "--source", "demo", "--max-bytes", 1_000_000, "--max-pixels", 4_000_000
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    """A server that needs TOKEN, given through the environment variable."""
    s = start_server(tmp_path_factory.mktemp("serve-token"), env={"EDGEDIGITS_TOKEN": TOKEN})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def heldout():
    """The shipped 1,000 MNIST *test* digits (never trained on)."""
    from edgedigits.samples import load_sample

    return load_sample("heldout")


@pytest.fixture(scope="session")
def sheet(heldout):
    """A rendered 640x480 sheet of real MNIST test digits (BGR) and its ground truth."""
    import numpy as np

    from edgedigits.camera.render import render_scene

    return render_scene(np.random.default_rng(5), *heldout, n_digits=6, n_marks=0)
