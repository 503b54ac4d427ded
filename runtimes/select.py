"""Choosing the backend, device and precision to run a bundle with.

Explicit requests are honoured exactly or refused with one sentence listing what is available
here: never a silent fallback. ``auto`` considers every available backend (in the priority order
of :data:`edgedigits.runtimes.NAMES`), each of its devices, and each precision the bundle has an
artifact for; INT8 only when the bundle's INT8 model passed its accuracy gate. When several
remain, a short trial on this machine (about a second) times each of them on real digits at
batch 1, 4, 16 and 64 and picks the one whose worst case is closest to the fastest at every
size; when no single one is within 10 % everywhere (e.g. ONNX Runtime wins single images and
OpenVINO large batches), batch sizes are routed to the fastest of one precision. The result is
cached per machine, bundle manifest and library versions, so the trial runs once. ``EDGEDIGITS_BACKEND``
('name', 'name:device' or 'name:device:precision') stands in for ``auto`` from the environment;
``EDGEDIGITS_TRIAL=0`` replaces the trial with the fixed priority order.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np

from .._version import __version__
from .._io import sha256_file, write_json_atomic
from ..bundle import MANIFEST, PRECISIONS, Artifact, Bundle
from ..errors import BackendError
from ..samples import load_sample
from . import NAMES, available_backends, backends, get_backend
from ._cache import cache_dir, cpu_name, digest, read_json
from .base import Backend, RoutedSession, Session, cpu_count

AUTO = "auto"
ENV_BACKEND = "EDGEDIGITS_BACKEND"
ENV_TRIAL = "EDGEDIGITS_TRIAL"
#: Largest fall in MNIST test accuracy (fraction) that lets ``auto`` use an INT8 model, unless its
#: manifest records the export gate's own verdict and limit.
INT8_MAX_DROP = 0.003
TRIAL_BATCHES = (1, 4, 16, 64)
TRIAL_ROUNDS = 5
#: A single candidate is preferred over routing by batch size unless routing is this much faster.
ROUTE_TOLERANCE = 1.10


@dataclass(frozen=True)
class Candidate:
    """One way to run the bundle here."""

    backend: str
    device: str
    precision: str
    artifact: Artifact = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.device}/{self.precision}"


@dataclass(frozen=True)
class Choice(Candidate):
    """The candidate chosen, and why (shown by ``Recognizer.info`` and ``edgedigits backends``).

    Attributes:
        routes: when different candidates are fastest for small and large batches, the
            (largest batch or None, candidate) pairs to route by batch size; else empty.
        timings: trial seconds per call, {candidate key: {batch: seconds}} (empty without a trial).
    """

    why: str = ""
    routes: tuple = field(default=(), compare=False)
    timings: dict = field(default_factory=dict, compare=False)

    def open(self, bundle: Bundle, threads: int | None = None) -> Session:
        if len(self.routes) > 1:
            return RoutedSession([(limit, _open(bundle, c, threads)) for limit, c in self.routes])
        return _open(bundle, self, threads)

    def describe_routes(self) -> list[str]:
        """E.g. ['batch 1-2: onnxruntime/cpu/int8', 'batch 3+: openvino/cpu/int8']."""
        out, low = [], 1
        for limit, c in self.routes:
            span = f"{low}-{limit}" if limit is not None else f"{low}+"
            out.append(f"batch {span}: {c.key}")
            low = (limit or 0) + 1
        return out


def _open(bundle: Bundle, c: Candidate, threads: int | None) -> Session:
    return get_backend(c.backend).open_artifact(bundle, c.artifact, c.device, threads, c.precision)


# -- the INT8 gate --------------------------------------------------------------------------------
def int8_gate(bundle: Bundle, artifact: Artifact) -> tuple[bool, str]:
    """Whether ``auto`` may use the INT8 ``artifact``: its recorded accuracy vs the FP32 model's.

    The limit and the FP32 reference come from the most specific record there is: the artifact's
    ``build['gate']`` (``passed``, ``max_drop`` as a fraction), else the manifest's ``export``
    facts (``max_drop_pp``, ``fp32_accuracy``) written by ``edgedigits export``, else
    :data:`INT8_MAX_DROP` against the bundle's FP32 artifact.
    """
    gate = artifact.build.get("gate") if isinstance(artifact.build.get("gate"), dict) else {}
    export = bundle.manifest.get("export") if isinstance(bundle.manifest.get("export"), dict) else {}
    if gate.get("passed") is False:
        return False, f"its INT8 model {artifact.id} failed the export's accuracy gate"
    if artifact.accuracy is None:
        return False, f"its INT8 model {artifact.id} has no recorded accuracy, so it is not trusted by default"
    reference = bundle.find(artifact.format, "fp32") or bundle.find("onnx", "fp32")
    ref_acc = export.get("fp32_accuracy")
    if not isinstance(ref_acc, (int, float)):
        ref_acc = (
            reference.accuracy if reference is not None and reference.accuracy is not None else bundle.test_accuracy
        )
    if ref_acc is None:
        return False, "the bundle records no FP32 accuracy to compare its INT8 model with"
    if isinstance(gate.get("max_drop"), (int, float)):
        max_drop = float(gate["max_drop"])
    elif isinstance(export.get("max_drop_pp"), (int, float)):
        max_drop = float(export["max_drop_pp"]) / 100
    else:
        max_drop = INT8_MAX_DROP
    drop = ref_acc - artifact.accuracy
    verdict = (
        f"{artifact.id} accuracy {artifact.accuracy:.2%} vs FP32 {ref_acc:.2%} "
        f"(drop {drop * 100:.2f} pp, gate {max_drop * 100:.2f} pp)"
    )
    if drop > max_drop + 1e-9:
        return False, f"its INT8 model is too inaccurate: {verdict}"
    return True, f"INT8 passed the accuracy gate: {verdict}"


# -- requests ---------------------------------------------------------------------------------------
def _from_env(backend: str, device: str, precision: str) -> tuple[str, str, str, str]:
    value = os.environ.get(ENV_BACKEND, "").strip()
    if backend != AUTO or not value:
        return backend, device, precision, ""
    parts = [p.strip() or AUTO for p in value.split(":")]
    if len(parts) > 3:
        raise BackendError(
            f"{ENV_BACKEND}={value!r} is not 'name', 'name:device' or 'name:device:precision'; fix or unset it."
        )
    parts += [AUTO] * (3 - len(parts))
    env_backend, env_device, env_precision = (p.lower() for p in parts)
    for what, name, known in (("backend", env_backend, NAMES), ("precision", env_precision, PRECISIONS)):
        if name not in (AUTO, *known):
            raise BackendError(
                f"{ENV_BACKEND}={value!r} names an unknown {what} {name!r}; the {what}s are: "
                f"{', '.join(known)}; fix the variable or unset it."
            )
    return (
        env_backend,
        env_device if device == AUTO else device,
        env_precision if precision == AUTO else precision,
        f" ({ENV_BACKEND}={value})",
    )


def _summary(items: list[Backend]) -> str:
    return (
        "; ".join(f"{b.name} ({', '.join(f'{d}: ' + '/'.join(b.precisions(d)) for d in b.devices())})" for b in items)
        or "none"
    )


def _backends_for(name: str) -> list[Backend]:
    if name == AUTO:
        # The PyTorch reference is probed (which imports torch) only when nothing else can run.
        usable = [b for b in backends() if b.auto_candidate and b.available]
        return usable or available_backends()
    chosen = get_backend(name)
    ok, reason = chosen.availability()
    if not ok:
        raise BackendError(
            f"the {chosen.name} backend is not available here: {reason}; available: {_summary(available_backends())}."
        )
    return [chosen]


def _devices_for(b: Backend, device: str) -> list[str]:
    if device == AUTO:
        return sorted(b.devices(), key=lambda d: d == "cpu")  # accelerators first
    return [b.check_device(device)] if device.lower() in b.devices() else []


def candidates(
    bundle: Bundle, backend: str = AUTO, device: str = AUTO, precision: str = AUTO, notes: list[str] | None = None
) -> list[Candidate]:
    """Every way to run ``bundle`` here that matches the request, in priority order.

    Raises:
        BackendError: an explicit backend, device or precision is unknown, unavailable, or has
            no artifact in the bundle; the message lists what is available.
    """
    for what, value in (("backend", backend), ("device", device), ("precision", precision)):
        if not isinstance(value, str) or not value:
            raise BackendError(f"{what} must be a name such as 'auto', got {value!r}.")
    backend, device, precision = backend.lower(), device.lower(), precision.lower()
    if precision != AUTO and precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; precisions are: auto, {', '.join(PRECISIONS)}.")
    pool = _backends_for(backend)
    notes = notes if notes is not None else []
    found: list[Candidate] = []
    for b in pool:
        for d in _devices_for(b, device):
            for p in b.precisions(d):
                if precision not in (AUTO, p):
                    continue
                artifact = b.artifact_for(bundle, p, d)
                if artifact is None:
                    continue
                if p == "int8" and precision == AUTO:
                    ok, why = int8_gate(bundle, artifact)
                    notes.append(why)
                    if not ok:
                        continue
                found.append(Candidate(b.name, d, p, artifact))
    if not found:
        raise BackendError(_nothing_matches(bundle, pool, backend, device, precision))
    return found


def _nothing_matches(bundle: Bundle, pool: list[Backend], backend: str, device: str, precision: str) -> str:
    asked = "/".join(x for x in (backend, device, precision))
    devices = sorted({d for b in pool for d in b.devices()})
    if device != AUTO and device.lower() not in devices:
        where = f"the {pool[0].name} backend has" if len(pool) == 1 else "the available backends have"
        return f"no device {device!r} for {asked}: {where} {', '.join(devices) or 'no devices'} here."
    offered = sorted({p for b in pool for d in _devices_for(b, device) for p in b.precisions(d)})
    if precision != AUTO and precision not in offered:
        return (
            f"{asked} cannot run {precision} here; it offers: {', '.join(offered) or 'nothing'} "
            f"(available: {_summary(available_backends())})."
        )
    have = ", ".join(a.id for a in bundle.artifacts)
    return (
        f"the bundle {bundle.path} has no artifact for {asked} (it has: {have}); "
        "export the missing one with 'edgedigits export', or ask for another precision."
    )


# -- the trial ------------------------------------------------------------------------------------
def _trial_batch() -> np.ndarray:
    images, _ = load_sample("heldout")
    return images[: max(TRIAL_BATCHES), None].astype(np.float32) / np.float32(255)


def _time_batches(session: Session, x: np.ndarray) -> dict[int, float]:
    """Median seconds per call at each trial batch size."""
    out = {}
    for n in TRIAL_BATCHES:
        xb = np.ascontiguousarray(x[:n])
        session.run(xb)
        reps = max(3, 20 // n)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            session.run(xb)
            times.append(time.perf_counter() - t)
        out[n] = float(np.median(times))
    return out


def trial_machine() -> dict:
    """What identifies this machine in a trial's cache key: CPU model, cores, architecture, OS."""
    return {"cpu": cpu_name(), "cores": cpu_count(), "arch": platform.machine(), "os": platform.system()}


def trial_key(bundle: Bundle, found: list[Candidate]) -> str:
    """Cache key of a trial: the bundle's manifest, this machine, the libraries and candidates."""
    libs = {b.name: b.version() for b in backends() if b.name in {c.backend for c in found}}
    return digest(
        {
            "manifest": sha256_file(bundle.path / MANIFEST),
            "machine": trial_machine(),
            "libs": libs,
            "edgedigits": __version__,
            "candidates": [c.key for c in found],
            "batches": TRIAL_BATCHES,
        }
    )


def run_trial(bundle: Bundle, found: list[Candidate]) -> dict[str, dict[int, float]]:
    """Time every candidate on the same real digits, interleaved over a few rounds (noise-robust)."""
    x = _trial_batch()
    sessions = {c.key: _open(bundle, c, None) for c in found}
    try:
        rounds = {k: [] for k in sessions}
        for _ in range(TRIAL_ROUNDS):
            for k, s in sessions.items():
                rounds[k].append(_time_batches(s, x))
        return {k: {n: float(np.median([r[n] for r in rs])) for n in TRIAL_BATCHES} for k, rs in rounds.items()}
    finally:
        for s in sessions.values():
            s.close()


def cached_trial(bundle: Bundle, found: list[Candidate]) -> tuple[dict[str, dict[int, float]], str]:
    """Trial timings from the cache, or measured now and cached; and where they came from."""
    path = cache_dir("trials", f"{trial_key(bundle, found)}.json")
    cached = read_json(path)
    if cached and isinstance(cached.get("timings"), dict):
        timings = {k: {int(n): float(t) for n, t in v.items()} for k, v in cached["timings"].items()}
        if set(timings) == {c.key for c in found}:
            return timings, f"trial cached {cached.get('created', '')}".strip()
    timings = run_trial(bundle, found)
    try:
        write_json_atomic(
            path,
            {
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "machine": trial_machine(),
                "bundle": str(bundle.path),
                "timings": timings,
            },
        )
    except OSError:
        return timings, "trial just now (the cache folder is not writable, so it will run again)"
    return timings, "trial just now"


def _bounds() -> list[int | None]:
    """The largest batch each trial size stands for (geometric midpoints; None = and beyond)."""
    b = TRIAL_BATCHES
    return [int((b[i] * b[i + 1]) ** 0.5) for i in range(len(b) - 1)] + [None]


def plan(timings: dict[str, dict[int, float]], found: list[Candidate]) -> tuple[list[tuple[int | None, str]], float]:
    """How to run: [(largest batch or None, candidate key)], and its worst slowdown vs the best.

    For each precision, the single candidate with the smallest worst-case slowdown (against the
    fastest of any precision at each trial batch size) is compared with routing each batch size
    to that precision's fastest; routing is used only when it beats the single candidate by more
    than :data:`ROUTE_TOLERANCE`. Routes never mix precisions, so a digit gets the same answer
    alone or in a batch. The precision with the smallest worst case wins; ties keep the priority
    order of ``found`` (INT8 first).
    """
    best = {n: min(t[n] for t in timings.values()) for n in TRIAL_BATCHES}

    def worst(k: str, sizes=TRIAL_BATCHES) -> float:
        return max(timings[k][n] / best[n] for n in sizes)

    options = []
    for precision in dict.fromkeys(c.precision for c in found):
        keys = [c.key for c in found if c.precision == precision]
        single = min(keys, key=worst)
        fastest = [min(keys, key=lambda k, n=n: timings[k][n]) for n in TRIAL_BATCHES]
        routed_worst = max(timings[k][n] / best[n] for k, n in zip(fastest, TRIAL_BATCHES))
        if worst(single) <= routed_worst * ROUTE_TOLERANCE:
            options.append(([(None, single)], worst(single)))
            continue
        routes: list[tuple[int | None, str]] = []
        for limit, k in zip(_bounds(), fastest):
            if routes and routes[-1][1] == k:
                routes[-1] = (limit, k)
            else:
                routes.append((limit, k))
        options.append((routes, routed_worst))
    return min(options, key=lambda o: o[1])


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


# -- the choice -------------------------------------------------------------------------------------
def choose(
    bundle: Bundle, backend: str = AUTO, device: str = AUTO, precision: str = AUTO, trial: bool | None = None
) -> Choice:
    """Resolve a request into one :class:`Choice` with the reason for it.

    Args:
        trial: time the candidates when more than one remains (None = unless EDGEDIGITS_TRIAL=0).
    """
    backend, device, precision, env_note = _from_env(backend, device, precision)
    notes: list[str] = []
    found = candidates(bundle, backend, device, precision, notes)
    asked = [f"{k}={v}" for k, v in (("backend", backend), ("device", device), ("precision", precision)) if v != AUTO]
    prefix = ("requested " + ", ".join(asked) + env_note + "; ") if asked else ""
    int8_note = next((n for n in notes if n.startswith("INT8 passed")), None)
    if trial is None:
        trial = os.environ.get(ENV_TRIAL, "1").strip().lower() not in ("0", "false", "no", "off")
    if len(found) == 1:
        c = found[0]
        why = prefix + "the only match for this request here"
    elif not trial:
        c = found[0]
        why = prefix + f"first of {len(found)} candidates in the fixed priority order ({ENV_TRIAL}=0)"
    else:
        timings, source = cached_trial(bundle, found)
        routes, worst = plan(timings, found)
        by_key = {f.key: f for f in found}
        c = by_key[routes[-1][1]]
        figures = ", ".join(f"batch {n}: {_fmt_time(timings[_route_of(routes, n)[1]][n])}" for n in TRIAL_BATCHES)
        chosen = tuple((limit, by_key[k]) for limit, k in routes) if len(routes) > 1 else ()
        choice = Choice(c.backend, c.device, c.precision, c.artifact, routes=chosen, timings=timings)
        if chosen:
            why = (
                prefix + f"no single candidate of {len(found)} was within {ROUTE_TOLERANCE - 1:.0%} of the "
                f"fastest at every batch size in a {source} on this machine, so batches are routed: "
                f"{'; '.join(choice.describe_routes())} ({figures}; worst case {worst:.2f}x the fastest)"
            )
        else:
            why = (
                prefix + f"fastest of {len(found)} candidates in a {source} on this machine "
                f"({figures}; worst case {worst:.2f}x the fastest)"
            )
        return _with_int8_note(dataclasses.replace(choice, why=why), precision, notes, int8_note)
    return _with_int8_note(Choice(c.backend, c.device, c.precision, c.artifact, why), precision, notes, int8_note)


def _route_of(routes: list[tuple[int | None, str]], n: int) -> tuple[int | None, str]:
    return next((r for r in routes if r[0] is None or n <= r[0]), routes[-1])


def _with_int8_note(choice: Choice, precision: str, notes: list[str], int8_note: str | None) -> Choice:
    """Add to ``why`` whether INT8 was allowed, and on what evidence."""
    extra = ""
    if choice.precision == "int8" and int8_note:
        extra = f"; {int8_note}"
    elif choice.precision != "int8" and precision == AUTO and notes and not int8_note:
        extra = f"; not INT8: {notes[0]}"
    return dataclasses.replace(choice, why=choice.why + extra) if extra else choice


__all__ = [
    "AUTO",
    "Candidate",
    "Choice",
    "candidates",
    "choose",
    "int8_gate",
    "plan",
    "run_trial",
    "cached_trial",
    "trial_key",
    "INT8_MAX_DROP",
    "NAMES",
]
