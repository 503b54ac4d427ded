"""What a TensorRT engine was built with, and whether it can run here (pure Python, no TensorRT).

A serialized engine runs only with the library and version that built it and on the GPUs it was
built for. TensorRT has no pre-flight check (a foreign engine fails to deserialize, or worse), so
every engine carries its build facts - in the bundle manifest's ``build`` entry or in a JSON file
beside a cached engine - and :func:`rebuild_reasons` decides from those facts alone.

Two builders make engines: full TensorRT (``tensorrt``), which builds on and for the GPU it runs on,
and TensorRT for RTX (``tensorrt_rtx``), which compiles ahead of time, without a GPU, for a list
of compute capabilities (its ``targets``). An engine of one never loads in the other.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from ...errors import BundleError
from .._cache import cache_dir, digest

#: Largest batch of the optimisation profile of an engine edgedigits builds (export and runtime
#: alike); a session splits bigger batches.
DEFAULT_MAX_BATCH = 256
ENV_TRUST_ENGINE_CODE = "EDGEDIGITS_TRUST_ENGINE_CODE"

BUILDER_TENSORRT = "tensorrt"
BUILDER_RTX = "tensorrt_rtx"
BUILDER_TITLES = {BUILDER_TENSORRT: "TensorRT", BUILDER_RTX: "TensorRT-RTX"}

# Hardware-compatibility levels as the manifest records them (trt.HardwareCompatibilityLevel names,
# lower case).
HW_NONE = "none"
HW_AMPERE_PLUS = "ampere_plus"
HW_SAME_CC = "same_compute_capability"
HW_LEVELS = (HW_NONE, HW_AMPERE_PLUS, HW_SAME_CC)
AMPERE = (8, 0)


@dataclass(frozen=True)
class MachineFacts:
    """What decides whether an engine runs here: the library, its version and the GPU."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "major.minor", e.g. "9.0"; "" for a build without a GPU
    builder: str = BUILDER_TENSORRT  # which builder's engines this machine's library runs


@dataclass(frozen=True)
class EngineFacts(MachineFacts):
    """What an engine was built with, recorded in its manifest ``build`` entry.

    Attributes:
        targets: compute capabilities a TensorRT-RTX engine was compiled for (empty for full
            TensorRT, whose engine targets the GPU it was built on).
        profile: the optimisation profile, ``{"input": name, "min": shape, "opt": shape, "max": shape}``.
    """

    hardware_compatibility_level: str = HW_NONE
    version_compatible: bool = False
    max_batch: int = 1
    precision: str = "fp32"
    source: str = ""  # the artifact id of the ONNX the engine was built from
    targets: tuple[str, ...] = ()
    profile: dict = field(default_factory=dict, hash=False)

    def to_build(self) -> dict:
        """The manifest ``build`` dict for this engine (JSON types only)."""
        build = asdict(self)
        build["targets"] = list(self.targets)
        return build

    @classmethod
    def from_build(cls, build: dict, where: str = "the engine's manifest entry") -> "EngineFacts":
        """Read facts back from a manifest ``build`` dict, refusing incomplete or malformed ones."""
        if not isinstance(build, dict):
            raise BundleError(f"{where} has no build facts; rebuild the TensorRT engine on this machine.")
        values = {}
        for f in fields(cls):
            if f.name in build:
                values[f.name] = build[f.name]
            elif f.default is not MISSING or f.default_factory is not MISSING:
                continue  # a fact with a default may be absent
            else:
                raise BundleError(
                    f"{where} lacks the build fact {f.name!r}; rebuild the TensorRT engine on this machine."
                )
        if not isinstance(values.get("targets", ()), (list, tuple)) or not isinstance(values.get("profile", {}), dict):
            raise BundleError(f"{where} has malformed build facts; rebuild the TensorRT engine on this machine.")
        values["targets"] = tuple(values.get("targets", ()))
        facts = cls(**values)
        if facts.builder not in BUILDER_TITLES:
            raise BundleError(
                f"{where} names the builder {facts.builder!r}; expected one of {', '.join(BUILDER_TITLES)}."
            )
        if facts.hardware_compatibility_level not in HW_LEVELS:
            raise BundleError(
                f"{where} has unknown hardware_compatibility_level "
                f"{facts.hardware_compatibility_level!r}; expected one of {', '.join(HW_LEVELS)}."
            )
        if not isinstance(facts.version_compatible, bool) or not isinstance(facts.max_batch, int):
            raise BundleError(f"{where} has malformed build facts; rebuild the TensorRT engine on this machine.")
        for cc in facts.targets:
            parse_cc(cc, where)
        if facts.compute_capability or not facts.targets:
            parse_cc(facts.compute_capability, where)
        parse_version(facts.trt_version, where)
        return facts


def parse_cc(text: str, where: str = "the build facts") -> tuple[int, int]:
    """``"8.6"`` -> (8, 6); a BundleError for anything else."""
    try:
        major, minor = (int(p) for p in str(text).split("."))
    except ValueError:
        raise BundleError(f"{where} has compute capability {text!r}, expected 'major.minor' such as '9.0'.") from None
    return major, minor


def parse_version(text: str, where: str = "the build facts") -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split(".")[:3])
    except ValueError:
        raise BundleError(f"{where} has TensorRT version {text!r}, expected digits such as '10.13.0'.") from None


def rebuild_reasons(recorded: EngineFacts, current: MachineFacts) -> list[str]:
    """Why an engine built with ``recorded`` facts will not run on ``current``; empty if it fits.

    The rules (NVIDIA's "engine compatibility" pages): an engine runs only in the library that
    built it, with that exact version, unless it was built version-compatible (full TensorRT 8.6+),
    which runs with that version and any later one. A TensorRT-RTX engine runs on the compute
    capabilities it was compiled for. A full TensorRT engine runs only on the kind of GPU it was
    built on, unless built with a hardware-compatibility level: ``ampere_plus`` runs on any GPU of
    compute capability 8.0 or later, ``same_compute_capability`` on any GPU of the same one.
    """
    made, here = BUILDER_TITLES.get(recorded.builder, recorded.builder), BUILDER_TITLES[current.builder]
    if recorded.builder != current.builder:
        return [f"it was built by {made}, and this backend runs {here} engines"]
    reasons = []
    built, now = parse_version(recorded.trt_version), parse_version(current.trt_version)
    if recorded.version_compatible:
        if now < built:
            reasons.append(
                f"it was built version-compatible with {made} {recorded.trt_version}, which runs only "
                f"on that version or later, but this machine has {current.trt_version}"
            )
    elif now != built:
        reasons.append(f"it was built with {made} {recorded.trt_version} but this machine has {current.trt_version}")
    cc_now = parse_cc(current.compute_capability)
    if recorded.targets:
        if cc_now not in {parse_cc(t) for t in recorded.targets}:
            reasons.append(
                f"it was compiled for compute capabilities {', '.join(recorded.targets)} but this GPU "
                f"({current.gpu_name}) has {current.compute_capability}"
            )
    elif recorded.hardware_compatibility_level == HW_AMPERE_PLUS:
        if cc_now < AMPERE:
            reasons.append(
                f"it was built for Ampere or newer GPUs (compute capability 8.0+) but this GPU "
                f"({current.gpu_name}) has {current.compute_capability}"
            )
    elif cc_now != parse_cc(recorded.compute_capability):
        reasons.append(
            f"it was built for compute capability {recorded.compute_capability} "
            f"({recorded.gpu_name}) but this GPU ({current.gpu_name}) has {current.compute_capability}"
        )
    elif recorded.hardware_compatibility_level == HW_NONE and recorded.gpu_name != current.gpu_name:
        reasons.append(
            f"it was built on a {recorded.gpu_name} without a hardware-compatibility level, "
            f"but this GPU is a {current.gpu_name}"
        )
    return reasons


def compatibility(build: dict, here: MachineFacts) -> tuple[bool, str]:
    """Whether an engine with the recorded ``build`` facts can run on a machine with facts ``here``.

    Returns:
        (True, what it was built for) or (False, why it must be rebuilt).
    """
    try:
        facts = EngineFacts.from_build(build)
    except BundleError as exc:
        return False, str(exc).rstrip(".")
    reasons = rebuild_reasons(facts, here)
    if reasons:
        return False, "; ".join(reasons)
    made = BUILDER_TITLES[facts.builder]
    gpus = ", ".join(facts.targets) if facts.targets else facts.compute_capability
    return True, f"built for SM {gpus} with {made} {facts.trt_version}"


def engine_cache_key(source_sha256: str, precision: str, here: MachineFacts, max_batch: int) -> str:
    """Name of a cached engine: everything that decides whether it is valid goes into it."""
    return digest(
        {
            "source": source_sha256,
            "precision": precision,
            "builder": here.builder,
            "trt": here.trt_version,
            "gpu": here.gpu_name,
            "cc": here.compute_capability,
            "max_batch": max_batch,
        }
    )


def engine_cache_dir() -> Path:
    return cache_dir("tensorrt")


def host_code_decision(facts: dict | None, built_here: bool) -> tuple[bool, str]:
    """Whether TensorRT may load an engine, as far as the code inside it goes: (allowed, why).

    A version-compatible engine carries host code (its lean runtime) that TensorRT executes when
    ``engine_host_code_allowed`` is set, so such an engine is code, not data. edgedigits runs that
    code only from engines it built itself on this machine (its cache), or when the user says they
    trust the bundle's author with ``EDGEDIGITS_TRUST_ENGINE_CODE=1``. Other engines hold no host
    code and are allowed.
    """
    if not (facts or {}).get("version_compatible"):
        return True, "the engine is not version-compatible, so it holds no host code"
    if built_here:
        return True, "a version-compatible engine edgedigits built on this machine"
    if os.environ.get(ENV_TRUST_ENGINE_CODE, "").strip() == "1":
        return True, f"a version-compatible engine trusted by {ENV_TRUST_ENGINE_CODE}=1"
    return False, (
        f"it is version-compatible, so it carries host code TensorRT would execute, and edgedigits "
        f"runs such code only from engines it built here; set {ENV_TRUST_ENGINE_CODE}=1 if you "
        "trust the bundle's author, or let edgedigits build an engine from the bundle's ONNX model"
    )
