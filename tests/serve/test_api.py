"""The HTTP API of a real ``edgedigits serve`` on 127.0.0.1: answers, and every bad input refused in one sentence."""

from __future__ import annotations

import http.client
import io
import json
import pickle
import signal
import socket
import struct
import zlib

import cv2
import numpy as np
import pytest

from conftest import TOKEN, start_server


def _jpeg(image) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def _png(image) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def multipart(files: list[tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data form holding ``files`` as (filename, data, type)."""
    boundary = "edgedigits-test-boundary"
    out = b""
    for i, (name, data, kind) in enumerate(files):
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file{i}"; filename="{name}"\r\n'
                f"Content-Type: {kind}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _refused(server, status, path, body=None, headers=None, method="POST") -> str:
    """The one-sentence error of a request that must be refused with ``status``."""
    got, answer = server.json(method, path, body, headers)
    assert got == status, answer
    message = answer["error"]
    assert set(answer) == {"error"} and message.endswith(".") and "Traceback" not in message
    assert message.count(". ") == 0, f"more than one sentence: {message}"
    return message


@pytest.fixture(scope="module")
def local_reading(sheet):
    """What the in-process reader says about the sheet: the HTTP answer must be the same."""
    from edgedigits.recognizer import Recognizer
    from edgedigits.serve.core import read_json

    with Recognizer() as rec:
        return read_json(rec, cv2.imdecode(np.frombuffer(_png(sheet.image), np.uint8), cv2.IMREAD_COLOR))


def test_health_and_info(server):
    assert server.json("GET", "/v1/health") == (200, {"status": "ok"})
    status, info = server.json("GET", "/v1/info")
    assert status == 200
    assert info["backend"] and info["precision"] and info["why"] and info["artifact"]
    assert info["live"]["source"] == "demo"


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"


@pytest.mark.parametrize("encoding", ["png-body", "jpeg-body", "multipart"])
def test_read_gives_the_one_readers_digits_and_numbers(server, sheet, local_reading, encoding):
    if encoding == "png-body":
        status, reading = server.json("POST", "/v1/read", _png(sheet.image), {"Content-Type": "image/png"})
    elif encoding == "jpeg-body":
        status, reading = server.json("POST", "/v1/read", _jpeg(sheet.image), {"Content-Type": "image/jpeg"})
    else:
        body, kind = multipart([("sheet.png", _png(sheet.image), "image/png")])
        status, reading = server.json("POST", "/v1/read", body, {"Content-Type": kind})
    assert status == 200
    assert reading["size"] == [640, 480]
    truth = sorted(d.label for d in sheet.digits)
    read = sorted(d["label"] for d in reading["digits"])
    assert len(read) >= len(truth) - 1 and sum(a == b for a, b in zip(read, truth)) >= len(truth) - 2, (read, truth)
    assert "".join(n["value"] for n in reading["numbers"]) and all(
        set(n) >= {"box", "value"} for n in reading["numbers"]
    )
    if encoding != "jpeg-body":  # the same pixels give the same answer as Recognizer.read in-process
        assert [d["label"] for d in reading["digits"]] == [d["label"] for d in local_reading["digits"]]
        assert [n["value"] for n in reading["numbers"]] == [n["value"] for n in local_reading["numbers"]]


def test_classify_npy_and_pngs(server, heldout):
    from edgedigits.recognizer import Recognizer

    images, labels = heldout
    status, answer = server.json("POST", "/v1/classify", _npy(images[:200]), {"Content-Type": "application/x-npy"})
    assert status == 200 and len(answer["labels"]) == 200
    assert np.mean(np.array(answer["labels"]) == labels[:200]) > 0.97
    with Recognizer() as rec:
        assert answer["labels"] == rec.classify(images[:200]).labels.tolist()
    assert all(0 <= c <= 1 for c in answer["confidences"]) and len(answer["rejected"]) == 200
    body, kind = multipart([(f"{i}.png", _png(images[i]), "image/png") for i in range(5)])
    status, answer = server.json("POST", "/v1/classify", body, {"Content-Type": kind})
    assert status == 200 and answer["labels"][:5] == labels[:5].tolist()


def test_classify_float_npy(server, heldout):
    images, labels = heldout
    status, answer = server.json(
        "POST", "/v1/classify", _npy(images[:50].astype(np.float32) / 255), {"Content-Type": "application/octet-stream"}
    )
    assert status == 200 and np.mean(np.array(answer["labels"]) == labels[:50]) > 0.95


def test_wrong_content_type(server, sheet):
    assert "text/plain" in _refused(server, 415, "/v1/read", b"hello", {"Content-Type": "text/plain"})
    assert "(none)" in _refused(server, 415, "/v1/read", _png(sheet.image))
    _refused(server, 415, "/v1/classify", b"{}", {"Content-Type": "application/json"})
    # the declared type is not trusted: the bytes must be a JPEG or PNG
    assert "not a JPEG or PNG" in _refused(
        server, 415, "/v1/read", b"GIF89a" + b"\0" * 50, {"Content-Type": "image/png"}
    )


def test_empty_body(server):
    assert "empty" in _refused(server, 400, "/v1/read", b"", {"Content-Type": "image/jpeg"})
    assert "empty" in _refused(server, 400, "/v1/classify", b"", {"Content-Type": "application/x-npy"})


def test_corrupt_images(server, sheet):
    jpeg = _jpeg(sheet.image)
    _refused(server, 400, "/v1/read", jpeg[:2] + bytes(200), {"Content-Type": "image/jpeg"})  # no frame header
    png = _png(sheet.image)
    assert "truncated or corrupt" in _refused(server, 400, "/v1/read", png[:20], {"Content-Type": "image/png"})
    garbage = png[:33] + np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes()
    assert "could not be decoded" in _refused(server, 400, "/v1/read", garbage, {"Content-Type": "image/png"})


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decode bomb's first bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )


def test_decode_bomb_refused_before_decoding(server):
    message = _refused(server, 413, "/v1/read", _png_header_only(50_000, 50_000), {"Content-Type": "image/png"})
    assert "2,500,000,000 pixels" in message and "4,000,000" in message


def test_too_large_by_content_length(server):
    assert "too large" in _refused(
        server, 413, "/v1/read", b"\xff\xd8" + bytes(1_000_000), {"Content-Type": "image/jpeg"}
    )


def test_too_large_while_streaming(server):
    """A chunked body (no Content-Length) is cut off as soon as it passes the limit."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    chunks = (b"\xff\xd8" + bytes(65_534) for _ in range(40))  # 2.6 MB in 64 KiB chunks
    try:
        conn.request("POST", "/v1/read", body=chunks, headers={"Content-Type": "image/jpeg"}, encode_chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading
    r = conn.getresponse()
    answer = json.loads(r.read())
    conn.close()
    assert r.status == 413 and "more than 1,000,000 bytes arrived" in answer["error"]


def test_bad_npy(server):
    kind = {"Content-Type": "application/x-npy"}
    assert "(10, 32, 32)" in _refused(server, 400, "/v1/classify", _npy(np.zeros((10, 32, 32), np.uint8)), kind)
    assert "dtype" in _refused(server, 400, "/v1/classify", _npy(np.zeros((3, 28, 28), np.complex64)), kind)
    assert "holds 0 crops" in _refused(server, 400, "/v1/classify", _npy(np.zeros((0, 28, 28), np.uint8)), kind)
    assert "NaN" in _refused(server, 400, "/v1/classify", _npy(np.full((2, 28, 28), np.nan, np.float32)), kind)
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros((28, 28)), "x"]
    assert "never unpickles" in _refused(server, 400, "/v1/classify", _npy(objects), kind)
    assert "malformed" in _refused(server, 400, "/v1/classify", _npy(np.zeros((4, 28, 28), np.uint8))[:90], kind)
    assert "NUMPY" in _refused(server, 415, "/v1/classify", pickle.dumps([1, 2]), kind)


def test_bad_multipart(server, sheet):
    png = _png(sheet.image)
    body, kind = multipart([("a.png", png, "image/png"), ("b.png", png, "image/png")])
    assert "too many files" in _refused(server, 400, "/v1/read", body, {"Content-Type": kind})
    assert "refused" in _refused(server, 400, "/v1/read", b"--x\r\nnonsense", {"Content-Type": "multipart/form-data"})


def test_bad_png_crops(server, sheet):
    body, kind = multipart([("big.png", _png(sheet.image), "image/png")])
    assert "28x28" in _refused(server, 400, "/v1/classify", body, {"Content-Type": kind})
    body, kind = multipart([])
    assert "no files" in _refused(server, 400, "/v1/classify", body, {"Content-Type": kind})


def test_unknown_route_and_method(server):
    assert "/v1/nothing" in _refused(server, 404, "/v1/nothing", method="GET")
    assert "GET is not allowed" in _refused(server, 405, "/v1/read", method="GET")


def test_token(token_server, sheet):
    png = _png(sheet.image)
    kind = {"Content-Type": "image/png"}
    assert "bearer token" in _refused(token_server, 401, "/v1/read", png, kind)
    _refused(token_server, 401, "/v1/read", png, dict(kind, Authorization="Bearer wrong"))
    _refused(token_server, 401, "/v1/info", method="GET", headers={"Authorization": "Basic " + TOKEN})
    status, reading = token_server.json("POST", "/v1/read", png, dict(kind, Authorization=f"Bearer {TOKEN}"))
    assert status == 200 and reading["digits"]
    assert token_server.json("GET", f"/v1/info?access_token={TOKEN}")[0] == 200
    assert token_server.json("GET", "/v1/health")[0] == 200  # open: liveness probes carry no token
    assert "live source" in _refused(
        token_server, 404, "/v1/live/frame.jpg", method="GET", headers={"Authorization": f"Bearer {TOKEN}"}
    )


def test_live_snapshot_stream_and_events(server):
    status, head, jpeg = server.request("GET", "/v1/live/frame.jpg")
    assert status == 200 and head["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("GET", "/v1/live/stream.mjpg")
    r = conn.getresponse()
    assert r.status == 200 and "multipart/x-mixed-replace" in r.getheader("content-type")
    data = b""
    while data.count(b"--frame") < 3:
        data += r.read1(65536)
    conn.close()
    part = data.split(b"--frame")[1]
    head, _, body = part.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert cv2.imdecode(np.frombuffer(body[:length], np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("GET", "/v1/live/events")
    r = conn.getresponse()
    assert r.getheader("content-type").startswith("text/event-stream")
    text = ""
    while text.count("\ndata: ") < 2 and not text.startswith("data: "):
        text += r.read1(65536).decode()
    conn.close()
    event = json.loads(text.split("data: ")[1].split("\n\n")[0])
    assert event["status"]["state"] == "running" and event["reading"]["size"] == [640, 480]


def test_sigterm_stops_cleanly_with_a_stream_open(tmp_path):
    s = start_server(tmp_path, "--source", "demo")
    conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
    conn.request("GET", "/v1/live/stream.mjpg")
    r = conn.getresponse()
    r.read1(1000)
    assert s.stop(signal.SIGTERM) == 0, s.log()
    assert "stopped" in s.log() and "Traceback" not in s.log()
    conn.close()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "70000"], "is not a TCP port"),
        (["--source", "/no/such/file.mp4"], "not a camera index"),
        (["--max-bytes", "0"], "expected a whole number"),
    ],
)
def test_bad_flags_exit_with_one_sentence(cli, args, words):
    r = cli("serve", *args, timeout=60)
    assert r.returncode != 0 and words in r.stderr and "Traceback" not in r.stderr


def test_port_in_use_is_one_sentence(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = cli("serve", "--port", taken.getsockname()[1], timeout=60)
    assert r.returncode != 0 and "cannot listen on 127.0.0.1" in r.stderr and "Traceback" not in r.stderr
