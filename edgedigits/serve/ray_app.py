"""The same HTTP API on Ray Serve: replicas, and dynamic batching of ``/v1/classify``.

    serve run edgedigits.serve.ray_app:build replicas=2          # Ray's own CLI
    edgedigits serve --engine ray --replicas 2                     # the same, started by edgedigits

:func:`build` is an application builder (``serve run``, ``serve deploy`` and KubeRay config files
name it as ``edgedigits.serve.ray_app:build``). Each replica runs the Starlette app of
:mod:`.app` with its own Recognizer; crops of concurrent ``/v1/classify`` requests are gathered by
``@serve.batch`` into one inference call. ``/v1/read`` runs the reader per request (its digit
finding is per image; the Serve proxy's cost per request is what bounds it: send several
requests at once). The live view stays with ``--engine local``.

Ray is imported only here, and only when called; without it every entry point raises one
:class:`~edgedigits.errors.MissingDependencyError`.
"""

from __future__ import annotations

import os
import sys

from .._deps import RAY_INSTALL, need_ray  # noqa: F401 (public here too)
from ..errors import UsageError

DEFAULTS = {
    "replicas": 1,
    "model": None,
    "backend": "auto",
    "precision": "auto",
    "token": None,
    "max_bytes": None,
    "max_pixels": None,
    "max_batch_size": 64,
    "batch_wait_s": 0.005,
    "replica_cpus": 0.5,
}


def _options(args: dict | None) -> dict:
    args = dict(args or {})
    unknown = sorted(set(args) - set(DEFAULTS))
    if unknown:
        raise UsageError(
            f"unknown option {unknown[0]!r} for edgedigits.serve.ray_app:build; use {', '.join(DEFAULTS)}."
        )
    options = dict(DEFAULTS, **args)
    for key in ("replicas", "max_batch_size", "max_bytes", "max_pixels"):
        if options[key] is not None:
            options[key] = int(options[key])
    for key in ("batch_wait_s", "replica_cpus"):
        options[key] = float(options[key])
    if options["token"] is None:
        options["token"] = os.environ.get("EDGEDIGITS_TOKEN") or None
    return options


def _replica_app(options: dict):
    """The ASGI app of one replica (built on the replica, so each has its own Recognizer)."""
    from ray import serve

    from ..recognizer import Recognizer  # imports cv2
    from .app import create_app  # imports cv2
    from .core import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, classification_json  # imports cv2

    recognizer = Recognizer(options["model"], backend=options["backend"], precision=options["precision"], threads=1)
    stats = {"requests": 0, "inference_calls": 0}

    @serve.batch(max_batch_size=options["max_batch_size"], batch_wait_timeout_s=options["batch_wait_s"])
    async def classify_together(batches: list) -> list[dict]:
        import asyncio

        import numpy as np

        from ..recognizer import as_batch  # imports cv2

        sizes = [len(b) for b in batches]
        crops = np.concatenate([as_batch(b) for b in batches])
        result = await asyncio.to_thread(recognizer.classify, crops)
        stats["requests"] += len(batches)
        stats["inference_calls"] += 1
        answer, out, start = classification_json(result), [], 0
        for n in sizes:
            out.append({k: v[start : start + n] for k, v in answer.items()})
            start += n
        return out

    def batching():
        return {"engine": "ray", "replica": serve.get_replica_context().replica_tag, "batching": dict(stats)}

    return create_app(
        recognizer,
        token=options["token"],
        max_bytes=options["max_bytes"] or DEFAULT_MAX_BYTES,
        max_pixels=options["max_pixels"] or DEFAULT_MAX_PIXELS,
        classify=classify_together,
        extra_info=batching,
    )


def build(args: dict | None = None):
    """The Ray Serve application (``serve run edgedigits.serve.ray_app:build [key=value ...]``).

    Args:
        args: any of :data:`DEFAULTS`: ``replicas``, ``model``, ``backend``, ``precision``, ``token``
            (default: ``EDGEDIGITS_TOKEN``), ``max_bytes``, ``max_pixels``, ``max_batch_size``,
            ``batch_wait_s``, ``replica_cpus`` (fractional: whole CPUs per replica starve the rest).
    """
    need_ray("edgedigits.serve.ray_app")
    from ray import serve

    options = _options(args)

    class EdgeDigits:
        """One replica: the Starlette app of edgedigits.serve.app over its own Recognizer."""

    ingress = serve.ingress(lambda: _replica_app(options))(EdgeDigits)
    deployment = serve.deployment(
        ingress,
        name="edgedigits",
        num_replicas=options["replicas"],
        ray_actor_options={"num_cpus": options["replica_cpus"]},
        max_ongoing_requests=256,
    )
    return deployment.bind()


def run_ray(args, token: str | None) -> int:
    """``edgedigits serve --engine ray``: deploy :func:`build` and serve until SIGINT/SIGTERM."""
    import signal
    import threading

    ray = need_ray("edgedigits serve --engine ray")
    from ray import serve

    if args.port == 0:
        raise UsageError("--engine ray needs a fixed --port (Ray Serve cannot pick a free one).")
    stop = threading.Event()
    ray.init(address=args.address, include_dashboard=False, logging_level="warning", log_to_driver=False)
    # after ray.init, which installs a SIGTERM handler of its own that exits with status 15
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        app = build(
            {
                "replicas": args.replicas,
                "model": args.model,
                "backend": args.backend,
                "precision": args.precision,
                "token": token,
                "max_bytes": args.max_bytes,
                "max_pixels": args.max_pixels,
            }
        )
        serve.run(app, name="edgedigits", route_prefix="/")
        print(
            f"edgedigits serve: Ray Serve, {args.replicas} replica(s); listening on http://{args.host}:{args.port}/",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
        serve.shutdown()
        print("edgedigits serve: stopped", file=sys.stderr)
    finally:
        ray.shutdown()
        for s, handler in old.items():
            signal.signal(s, handler)
    return 0
