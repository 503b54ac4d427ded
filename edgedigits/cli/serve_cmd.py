"""`edgedigits serve`: the HTTP API and a live web view on this device (or on Ray Serve)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from ..errors import UsageError
from ..serve import need_web_stack
from . import positive_float, positive_int

NAME = "serve"
HELP = "serve the reader over HTTP (POST /v1/read, /v1/classify) with a live view of the camera at /"


def add_arguments(p) -> None:
    from ..serve.core import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS  # imports cv2

    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 exposes it on the "
        "network: set --token then)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--token",
        default=None,
        help="require this bearer token on every data route (default: the EDGEDIGITS_TOKEN "
        "environment variable; none = no token)",
    )
    p.add_argument(
        "--source",
        default=None,
        help="the device's own frame source for the live view, as 'edgedigits camera --source' takes "
        "it (a camera index, a stream, a video, a folder, 'demo'; default: none)",
    )
    p.add_argument(
        "--stall-timeout",
        type=positive_float,
        default=3.0,
        metavar="S",
        help="reconnect the live source after S seconds without a new frame (default 3)",
    )
    p.add_argument(
        "--reconnects",
        type=positive_int,
        default=10,
        metavar="N",
        help="give the live source up after N failed reconnection attempts in a row (default 10)",
    )
    p.add_argument(
        "--max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"largest request body accepted (default {DEFAULT_MAX_BYTES:,})",
    )
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"largest image decoded, width x height (default {DEFAULT_MAX_PIXELS:,})",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: uvicorn on this machine (default); ray: Ray Serve replicas",
    )
    p.add_argument("--replicas", type=positive_int, default=1, metavar="N", help="Ray Serve replicas (--engine ray)")
    p.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster to deploy on (--engine ray; default: start a local one)",
    )
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument("--backend", default="auto", help="inference backend (default auto; see 'edgedigits backends')")
    p.add_argument("--device", default="auto", help="device of the backend (default auto)")
    p.add_argument("--precision", default="auto", help="fp32, fp16, int8 or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="CPU threads for inference (default 1; 0 = the library's default)",
    )


def run(args) -> int:
    token = args.token if args.token is not None else os.environ.get("EDGEDIGITS_TOKEN") or None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port; use 0..65535.")
    if args.engine == "ray":
        if args.source:
            raise UsageError("--source (the live view) runs with --engine local only; drop one of them.")
        from ..serve.ray_app import run_ray  # kept out of --help start-up

        return run_ray(args, token)
    need_web_stack()
    return _run_local(args, token)


def _listen(host: str, port: int):
    """A listening socket (so --port 0 works and the real address can be printed)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --host or --port."
        ) from None
    sock.listen(128)
    return sock


def _run_local(args, token) -> int:
    import uvicorn

    class _StoppingServer(uvicorn.Server):
        """SIGINT/SIGTERM: a graceful shutdown that returns (uvicorn would re-raise the signal, skipping
        our clean-up); the live view's endless streams end at once, so the stop is quick."""

        live = None
        signal = None

        @contextlib.contextmanager
        def capture_signals(self):
            old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in old.items():
                    signal.signal(s, handler)

        def handle_exit(self, sig, frame):
            self.signal = signal.Signals(sig).name
            if self.live:
                self.live.stop.set()
            super().handle_exit(sig, frame)

    from ..recognizer import Recognizer  # imports cv2
    from ..serve.app import create_app  # imports cv2
    from ..serve.live import LiveView  # imports cv2

    recognizer = Recognizer(
        args.model, backend=args.backend, device=args.device, precision=args.precision, threads=args.threads or None
    )
    live = None
    try:
        if args.source:
            live = LiveView(recognizer, args.source, args.stall_timeout, args.reconnects)
        app = create_app(recognizer, token=token, max_bytes=args.max_bytes, max_pixels=args.max_pixels, live=live)
        sock = _listen(args.host, args.port)
        host, port = sock.getsockname()[:2]
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        if host not in ("127.0.0.1", "::1", "localhost") and not token:
            print(
                f"edgedigits serve: warning: listening on {host} without a token: anyone on the network can "
                f"use it; set --token.",
                file=sys.stderr,
            )
        print(
            f"edgedigits serve: {recognizer.info.backend}/{recognizer.info.precision}; listening on {url}",
            file=sys.stderr,
            flush=True,
        )
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, lifespan="off")
        server = _StoppingServer(config)
        server.live = live
        server.run(sockets=[sock])
        print(f"edgedigits serve: stopped ({server.signal or 'server exit'})", file=sys.stderr)
    finally:
        if live:
            live.close()
        recognizer.close()
    return 0
