"""A kill at any moment leaves either the old file or the new one, never a partial or missing one.

For each writer (JSON results and manifests, a large streamed file through ``atomic_path``, a
bundle folder through ``atomic_dir``, a training checkpoint, the MNIST download), a child process
rewrites one target again and again with self-validating versions and is SIGKILLed after a random
(seeded, bounded) delay; after each kill the target must hold one complete version, no older than
the one seen before, and the temporary files the kills leave behind must not stop the next write.

The children are forked from one "zygote" process per writer (this file run as a script), so
heavy imports (PyTorch) are paid once, not once per kill. A second test kills a write before each
line of ``edgedigits/_io.py`` it executes, in turn, so every step of the atomic helpers is covered,
not only the ones a random delay happens to hit.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _support import requires_torch

HERE = Path(__file__).resolve().parent
KILLS = 20  # per writer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- writers: each writes version ``seq`` of its target; ``check`` validates what is there ---------


class JsonWriter:
    """write_json_atomic (benchmark results, manifests): a JSON object carrying its payload's hash."""

    def __init__(self, target: Path, extra: dict):
        from edgedigits._io import write_json_atomic

        self.target, self.save = target, write_json_atomic

    def write(self, seq: int) -> None:
        payload = np.random.default_rng(seq).bytes(96 * 1024).hex()
        self.save(self.target, {"seq": seq, "payload": payload, "sha256": _sha(payload.encode())})

    @staticmethod
    def check(target: Path) -> int:
        obj = json.loads(target.read_text())
        assert _sha(obj["payload"].encode()) == obj["sha256"], "payload does not match its hash"
        return obj["seq"]


class StreamWriter:
    """atomic_path with a 4 MiB file written in 16 pieces (a kill mid-write is likely)."""

    def __init__(self, target: Path, extra: dict):
        from edgedigits._io import atomic_path

        self.target, self.atomic_path = target, atomic_path

    def write(self, seq: int) -> None:
        body = np.random.default_rng(seq).bytes(4 << 20)
        with self.atomic_path(self.target) as tmp, open(tmp, "wb") as f:
            f.write(f"{seq} {_sha(body)}\n".encode())
            for i in range(16):
                f.write(body[i << 18 : (i + 1) << 18])
                f.flush()

    @staticmethod
    def check(target: Path) -> int:
        head, body = target.read_bytes().split(b"\n", 1)
        seq, digest = head.decode().split()
        assert _sha(body) == digest, f"{len(body)}-byte body does not match its hash"
        return int(seq)


class BundleWriter:
    """atomic_dir (exported bundles): the shipped bundle's files plus a manifest stamped with seq."""

    def __init__(self, target: Path, extra: dict):
        from edgedigits._io import atomic_dir
        from edgedigits.bundle import MANIFEST, default_bundle_path

        self.target, self.atomic_dir, self.manifest_name = target, atomic_dir, MANIFEST
        self.source = default_bundle_path()
        self.manifest = json.loads((self.source / MANIFEST).read_text())

    def write(self, seq: int) -> None:
        from edgedigits._io import write_json_atomic

        manifest = dict(self.manifest, training=dict(self.manifest.get("training", {}), kill_test_seq=seq))
        with self.atomic_dir(self.target, force=True) as tmp:
            for a in manifest["artifacts"]:
                for f in [a["file"]] + [c["file"] for c in a.get("companions", [])]:
                    (tmp / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.source / f, tmp / f)
            write_json_atomic(tmp / self.manifest_name, manifest)

    @staticmethod
    def check(target: Path) -> int:
        from edgedigits.bundle import load_bundle

        bundle = load_bundle(target, verify=True)  # every listed file present and matching its SHA-256
        return bundle.manifest["training"]["kill_test_seq"]


class CheckpointWriter:
    """edgedigits.train.save_checkpoint: a 4 MiB tensor and the SHA-256 of its bytes, loaded back
    with weights_only. (A digest, not the tensor's sum: torch sums in an order that depends on its
    thread count, which differs between the writer and a test process, so a whole tensor's sum
    could differ in its last bits.)"""

    def __init__(self, target: Path, extra: dict):
        import torch

        from edgedigits.train import save_checkpoint

        self.target, self.torch, self.save = target, torch, save_checkpoint

    def write(self, seq: int) -> None:
        w = self.torch.from_numpy(np.random.default_rng(seq).standard_normal(1 << 20, dtype=np.float32))
        self.save(
            self.torch, self.target, {"config": {"seq": seq}, "model": {"w": w}, "epoch": seq, "sha256": _digest(w)}
        )

    @staticmethod
    def check(target: Path) -> int:
        from edgedigits.train import load_checkpoint

        state = load_checkpoint(target)
        assert state["epoch"] == state["config"]["seq"]
        assert _digest(state["model"]["w"]) == state["sha256"], "tensor does not match its digest"
        return state["epoch"]


def _digest(tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


class DownloadWriter:
    """edgedigits.data.fetch of the MNIST test files from a local server; before each fetch the
    files are (atomically) replaced by stale markers, so every fetch downloads and renames again."""

    SPLIT = "test"

    def __init__(self, target: Path, extra: dict):
        from edgedigits import data
        from edgedigits._io import write_bytes_atomic

        data.MNIST_FILES = {k: v for k, v in data.MNIST_FILES.items() if k[0] == self.SPLIT}
        self.target, self.url, self.data, self.mark = target, extra["url"], data, write_bytes_atomic

    def write(self, seq: int) -> None:
        for spec in self.data.MNIST_FILES.values():
            final = self.target / (spec.name + ".gz")
            if final.exists():
                self.mark(final, f"stale version {seq}\n".encode())
        self.data.fetch(self.target, [self.url], log=lambda *_: None)

    @classmethod
    def check(cls, target: Path) -> None:
        """Each final file is a complete stale marker (the old version) or the verified download."""
        from edgedigits import data

        for key, spec in data.MNIST_FILES.items():
            if key[0] == cls.SPLIT:
                final = target / (spec.name + ".gz")
                raw = final.read_bytes()
                if not (raw.startswith(b"stale version ") and raw.endswith(b"\n")):
                    data.read_idx(final, spec)  # complete, and the official checksum
        return None


WRITERS = {
    "json": JsonWriter,
    "stream": StreamWriter,
    "bundle": BundleWriter,
    "checkpoint": CheckpointWriter,
    "download": DownloadWriter,
}


# --- the zygote: this file run as a script -------------------------------------------------------


def _kill_at_line(k: int, filename: str) -> None:
    """SIGKILL this process just before the k-th line it executes in ``filename``."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count == k:
                os.kill(os.getpid(), signal.SIGKILL)
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename == filename else None)


def zygote(name: str, target: str, extra: str) -> None:
    """Serve commands on stdin: 'loop SEQ' / 'once SEQ' / 'line SEQ K' fork a writer and print its
    pid; 'reap' waits for it and prints its raw wait status."""
    writer = WRITERS[name](Path(target), json.loads(extra))
    import edgedigits._io

    io_file = edgedigits._io.__file__
    print("ready", flush=True)
    child = None
    try:
        for line in sys.stdin:
            cmd, *args = line.split()
            if cmd == "reap":
                print(os.waitpid(child, 0)[1], flush=True)
                child = None
                continue
            seq = int(args[0])
            child = os.fork()
            if child == 0:
                code = 0
                try:
                    if cmd == "line":
                        _kill_at_line(int(args[1]), io_file)
                    while True:
                        writer.write(seq)
                        seq += 1
                        if cmd != "loop":
                            break
                except BaseException:
                    import traceback

                    traceback.print_exc()
                    code = 3
                finally:
                    sys.settrace(None)
                    sys.stderr.flush()
                    os._exit(code)
            print(child, flush=True)
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)


class Zygote:
    """The test's side of a zygote process."""

    def __init__(self, name: str, target: Path, log: Path, extra: dict | None = None):
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, name, str(target), json.dumps(extra or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=HERE,
        )
        assert self._ask(None, 120) == "ready", self.stderr()

    def _ask(self, command: str | None, timeout: float = 60) -> str:
        watchdog = threading.Timer(timeout, self.proc.kill)  # a hung writer fails the test, not the suite
        watchdog.start()
        try:
            if command:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            return self.proc.stdout.readline().strip()
        finally:
            watchdog.cancel()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]

    def start(self, command: str) -> int:
        answer = self._ask(command)
        assert answer.isdigit(), self.stderr()
        return int(answer)

    def reap(self) -> int:
        answer = self._ask("reap")
        assert answer.lstrip("-").isdigit(), self.stderr()
        return int(answer)

    def run_once(self, seq: int) -> None:
        """A write that is not interrupted: must finish and exit cleanly."""
        self.start(f"once {seq}")
        status = self.reap()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, self.stderr()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
        self.log.close()


def _killed(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _leftovers(folder: Path, keep: str) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != keep}


def kill_repeatedly(name: str, target: Path, tmp_path: Path, max_delay: float, seed: int, extra=None) -> int:
    """Kill the writer KILLS times at random moments, checking the target after each kill.

    Returns how many kills left a temporary file behind (a kill during a write).
    """
    writer, rng = WRITERS[name], random.Random(seed)
    z = Zygote(name, target, tmp_path / f"{name}.log", extra)
    try:
        z.run_once(0)
        seen, mid_write = writer.check(target), 0
        for kill in range(1, KILLS + 1):
            before = _leftovers(target.parent, target.name)
            pid = z.start(f"loop {kill * 1_000_000}")
            time.sleep(rng.uniform(0.0, max_delay))
            os.kill(pid, signal.SIGKILL)
            status = z.reap()
            assert _killed(status), f"the writer did not die by SIGKILL (status {status}): {z.stderr()}"
            try:
                seq = writer.check(target)
            except Exception as exc:
                raise AssertionError(f"after kill {kill} the target is not a complete version: {exc!r}") from exc
            assert seq is None or seq >= seen, f"after kill {kill} an older version ({seq} < {seen}) is back"
            seen = seq
            mid_write += bool(_leftovers(target.parent, target.name) - before)
        z.run_once(10**9)  # temporary files left by the kills do not stop a write
        assert writer.check(target) in (10**9, None)
    finally:
        z.close()
    return mid_write


@pytest.mark.parametrize("name,max_delay", [("json", 0.05), ("stream", 0.15), ("bundle", 0.15)])
def test_kill_during_atomic_writes_leaves_old_or_new(name, max_delay, tmp_path):
    target = tmp_path / "out" / {"json": "result.json", "stream": "data.bin", "bundle": "bundle"}[name]
    mid_write = kill_repeatedly(name, target, tmp_path, max_delay, seed=7)
    leftovers = _leftovers(target.parent, target.name)
    assert all(n.startswith(f".{target.name}.") for n in leftovers), leftovers  # hidden, never the target
    if name != "json":  # the kills did land inside writes (for JSON they are too short)
        assert mid_write >= 1


@requires_torch
def test_kill_during_checkpoint_save_leaves_old_or_new(tmp_path):
    target = tmp_path / "run" / "checkpoint.pt"
    assert kill_repeatedly("checkpoint", target, tmp_path, max_delay=0.25, seed=8) >= 1


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client killed mid-transfer is what this test does


def test_kill_during_download_leaves_old_or_new(mnist_dir, tmp_path):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(mnist_dir), **k)

        def log_message(self, *a):
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "mnist"
        kill_repeatedly(
            "download",
            dest,
            tmp_path,
            max_delay=0.4,
            seed=9,
            extra={"url": f"http://127.0.0.1:{server.server_address[1]}/"},
        )
    finally:
        server.shutdown()
        server.server_close()
    from edgedigits import data

    assert data.load_mnist("test", dest)[0].shape == (10000, 28, 28)


@pytest.mark.parametrize("name", ["json", "bundle"])
def test_kill_before_every_step_of_the_atomic_helpers(name, tmp_path):
    """Kill a write just before each line of edgedigits/_io.py it runs, one kill per line, in turn."""
    target = tmp_path / "out" / ("result.json" if name == "json" else "bundle")
    writer = WRITERS[name]
    z = Zygote(name, target, tmp_path / "zygote.log")
    try:
        z.run_once(0)
        k, seen = 0, 0
        while True:
            k += 1
            z.start(f"line {k} {k}")
            status = z.reap()
            try:
                seq = writer.check(target)
            except Exception as exc:
                raise AssertionError(f"killed before line event {k}: the target is not complete: {exc!r}") from exc
            assert seq in (seen, k), f"killed before line event {k}: version {seq}, expected {seen} or {k}"
            seen = seq
            if not _killed(status):
                assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, z.stderr()
                break  # k is past the last line: the write completed
        assert seen == k and k > 10
        z.run_once(10**9)
        assert writer.check(target) == 10**9
    finally:
        z.close()


if __name__ == "__main__":
    zygote(*sys.argv[1:])
