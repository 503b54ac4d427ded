"""MNIST reading and validation, and the download code against a real local HTTP server."""

from __future__ import annotations

import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from edgedigits import data
from edgedigits.errors import DataError, DownloadError

SPEC_TRAIN_LABELS = data.MNIST_FILES[("train", "labels")]
SPEC_TEST_IMAGES = data.MNIST_FILES[("test", "images")]


def test_loads_validated_mnist(mnist_dir):
    images, labels = data.load_mnist("test", mnist_dir)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels


def test_reads_uncompressed_files_too(mnist_dir, tmp_path):
    for spec in data.MNIST_FILES.values():
        with gzip.open(mnist_dir / (spec.name + ".gz")) as f:
            (tmp_path / spec.name).write_bytes(f.read())
    images, labels = data.load_mnist("train", tmp_path)
    assert len(images) == len(labels) == 60000


def test_checksums_match_the_shipped_sums_file(mnist_dir):
    sums = dict(line.split()[::-1] for line in (mnist_dir / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert data.checksums() == sums


@pytest.fixture
def copy_of_mnist(mnist_dir, tmp_path):
    for p in mnist_dir.glob("*.gz"):
        shutil.copy(p, tmp_path / p.name)
    return tmp_path


def _rewrite(path: Path, mutate) -> None:
    payload = bytearray(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(bytes(mutate(payload))))


def test_missing_file_is_named(copy_of_mnist):
    (copy_of_mnist / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is missing"):
        data.load_mnist("test", copy_of_mnist)


def test_truncated_gzip_is_refused(copy_of_mnist):
    p = copy_of_mnist / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: the gzip stream is truncated or corrupted"):
        data.load_mnist("test", copy_of_mnist)


def test_truncated_payload_is_refused(copy_of_mnist):
    _rewrite(copy_of_mnist / "t10k-images-idx3-ubyte.gz", lambda b: b[:-784])
    with pytest.raises(DataError, match=r"bytes where 7840016 are expected; the file is truncated"):
        data.load_mnist("test", copy_of_mnist)


def test_flipped_pixel_is_caught_by_checksum(copy_of_mnist):
    def flip(b):
        b[5000] ^= 0xFF
        return b

    _rewrite(copy_of_mnist / "t10k-images-idx3-ubyte.gz", flip)
    with pytest.raises(DataError, match=r"does not match the official"):
        data.load_mnist("test", copy_of_mnist)


def test_wrong_magic_and_swapped_files(copy_of_mnist):
    # A label file where the image file should be: wrong magic number, named in the message.
    shutil.copy(copy_of_mnist / "t10k-labels-idx1-ubyte.gz", copy_of_mnist / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=r"magic number 2049 .* this is not t10k-images-idx3-ubyte"):
        data.load_mnist("test", copy_of_mnist)


def test_wrong_dimensions(copy_of_mnist):
    def dims(b):
        b[4:8] = (9999).to_bytes(4, "big")
        return b

    _rewrite(copy_of_mnist / "t10k-labels-idx1-ubyte.gz", dims)
    with pytest.raises(DataError, match=r"dimensions \(9999,\) where t10k-labels-idx1-ubyte has \(10000,\)"):
        data.load_mnist("test", copy_of_mnist)


def test_empty_file(copy_of_mnist):
    (copy_of_mnist / "train-labels-idx1-ubyte.gz").unlink()
    (copy_of_mnist / "train-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match=r"only 0 bytes, shorter than an IDX header"):
        data.load_mnist("train", copy_of_mnist)


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDIGITS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEDIGITS_CACHE_DIR", raising=False)
    assert data.find_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.find_data_dir() == tmp_path / "env"
    monkeypatch.delenv("EDGEDIGITS_DATA")
    with pytest.raises(DataError, match=r"MNIST was not found: pass --data DIR"):
        data.find_data_dir()
    with pytest.raises(DataError, match=r"MNIST folder .* does not exist"):
        data.load_mnist("test", tmp_path / "nowhere")


# --- download, against a real HTTP server on 127.0.0.1 ---------------------------------------------


class _Server:
    """Serves files from a folder; ``overrides`` maps a file name to the bytes to send instead."""

    def __init__(self, root: Path, overrides: dict | None = None, support_range: bool = True):
        self.root, self.overrides, self.support_range = root, overrides or {}, support_range
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                outer.requests.append((name, self.headers.get("Range")))
                body = outer.overrides.get(name)
                if body is None:
                    p = outer.root / name
                    if not p.is_file():
                        self.send_error(404)
                        return
                    body = p.read_bytes()
                if callable(body):
                    body = body(self)
                    if body is None:
                        return
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.support_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_fetch_downloads_and_verifies(mnist_dir, tmp_path):
    dest = tmp_path / "cache"
    with _Server(mnist_dir) as server:
        data.fetch(dest, [server.url], log=lambda *_: None)
    assert sorted(p.name for p in dest.iterdir()) == sorted(s.name + ".gz" for s in data.MNIST_FILES.values())
    images, labels = data.load_mnist("test", dest)
    assert len(images) == 10000
    # A second fetch finds everything valid and downloads nothing.
    with _Server(mnist_dir) as server:
        data.fetch(dest, [server.url], log=lambda *_: None)
        assert server.requests == []


def test_fetch_falls_back_from_a_corrupt_mirror(mnist_dir, tmp_path):
    good = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    bad = gzip.compress(gzip.decompress(good)[:-10] + b"\x09" * 10)  # same length, wrong bytes
    with _Server(mnist_dir, {"t10k-labels-idx1-ubyte.gz": bad}) as corrupt, _Server(mnist_dir) as sound:
        data.fetch(tmp_path, [corrupt.url, sound.url], log=lambda *_: None)
    assert data.read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", data.MNIST_FILES[("test", "labels")]).shape == (10000,)
    assert not list(tmp_path.glob("*.part"))


def test_fetch_refuses_corrupted_download(mnist_dir, tmp_path):
    good = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    bad = gzip.compress(gzip.decompress(good)[:-10] + b"\x09" * 10)
    with _Server(mnist_dir, {"t10k-labels-idx1-ubyte.gz": bad}) as server:
        with pytest.raises(
            DownloadError, match=r"could not download a valid t10k-labels-idx1-ubyte.gz .*does not match"
        ):
            data.fetch(tmp_path, [server.url], log=lambda *_: None)
    # Nothing unverified is left under the final name.
    assert not (tmp_path / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(tmp_path.glob("*.part"))


def test_fetch_resumes_a_truncated_transfer(mnist_dir, tmp_path):
    good = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    calls = {"n": 0}

    def first_truncated(handler):
        calls["n"] += 1
        if calls["n"] == 1:  # announce the full length, send half, hang up
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(good)))
            handler.end_headers()
            handler.wfile.write(good[: len(good) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return None
        return good

    with _Server(mnist_dir, {"t10k-labels-idx1-ubyte.gz": first_truncated}) as server:
        data.fetch(tmp_path, [server.url], log=lambda *_: None)
        ranges = [r for name, r in server.requests if name == "t10k-labels-idx1-ubyte.gz"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(good) // 2}-"
    assert (tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes() == good


def test_fetch_reports_unreachable_mirrors(tmp_path):
    with pytest.raises(DownloadError, match=r"could not download a valid train-images-idx3-ubyte.gz from any mirror"):
        data.fetch(tmp_path, ["http://127.0.0.1:9/mnist/"], timeout=2, log=lambda *_: None)


def test_cli_data_fetch_and_verify(cli, mnist_dir, tmp_path):
    with _Server(mnist_dir) as server:
        r = cli("data", "fetch", "--dest", tmp_path, "--mirror", server.url)
    assert r.returncode == 0, r.stderr
    r = cli("data", "verify", "--data", tmp_path)
    assert r.returncode == 0 and "valid" in r.stdout
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    r = cli("data", "verify", "--data", tmp_path)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "t10k-images-idx3-ubyte.gz" in r.stderr and "Traceback" not in r.stderr
