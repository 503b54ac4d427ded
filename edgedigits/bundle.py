"""The model bundle: a folder with ``manifest.json`` and the artifacts it lists.

The bundle is the unit of deployment. Its manifest records, for every artifact, its format,
precision, file, SHA-256, size, measured accuracy and build facts. Loading a bundle treats it as
untrusted: the manifest is size- and shape-checked, file paths must stay inside the folder, the
schema version must be known, each file's checksum is verified before it is handed to a backend,
and an ONNX model may keep tensor data only in files the manifest lists for it (see SECURITY.md).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from ._io import atomic_dir, sha256_file, write_json_atomic
from ._onnx import export_onnx, onnx_build_facts
from ._onnxcheck import MalformedModel, external_tensors
from ._version import __version__
from .data import checksums
from .errors import BundleError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
#: How each format's main file name must end (backends pick their parser by it).
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine", "torch": ".pt"}
FORMATS = tuple(SUFFIXES)
PRECISIONS = ("fp32", "fp16", "int8")
#: A manifest is a few KiB; anything larger is refused without being read in full.
MAX_MANIFEST_BYTES = 1 << 20
#: Deepest nesting of objects and lists accepted in a manifest.
MAX_MANIFEST_DEPTH = 32
#: Manifest sections that must be JSON objects when present.
SECTIONS = ("model", "input", "output", "training", "metrics", "rejection", "export")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

# What every edgedigits model expects: N x 1 x 28 x 28 float32, white digit on black, pixel / 255.
INPUT_SPEC = {
    "name": "input",
    "shape": ["batch", 1, 28, 28],
    "dtype": "float32",
    "layout": "NCHW",
    "range": [0.0, 1.0],
    "normalisation": "uint8 pixel / 255; white (high) strokes on a black (zero) background; "
    "the digit fitted into 20x20 keeping its aspect ratio and centred by centre of "
    "mass in 28x28, as in MNIST",
}
#: The rejection threshold of a bundle whose manifest records no calibrated one
#: (:func:`edgedigits.rejection.min_confidence_for`); kept low so such a model rejects little.
DEFAULT_MIN_CONFIDENCE = 0.5
OUTPUT_SPEC = {"name": "logits", "shape": ["batch", 10], "dtype": "float32"}
LABELS = [str(i) for i in range(10)]
DIGITS = len(LABELS)  # logit columns 0-9 are the digits; an 11th column is a reject class ("not a digit")


@dataclass
class FileEntry:
    file: str
    sha256: str
    size: int

    def to_dict(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "size": self.size}


@dataclass
class Artifact:
    """One deployable file (plus companions, e.g. OpenVINO's .bin) of a bundle."""

    id: str
    format: str
    precision: str
    file: str
    sha256: str
    size: int
    companions: list[FileEntry] = field(default_factory=list)
    accuracy: float | None = None
    build: dict = field(default_factory=dict)

    @property
    def files(self) -> list[FileEntry]:
        return [FileEntry(self.file, self.sha256, self.size), *self.companions]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict:
        d = {
            "id": self.id,
            "format": self.format,
            "precision": self.precision,
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
        }
        if self.companions:
            d["companions"] = [c.to_dict() for c in self.companions]
        d["accuracy"] = self.accuracy
        d["build"] = self.build
        return d


def _require(cond: Any, where: Path, what: str) -> None:
    if not cond:
        raise BundleError(f"{where / MANIFEST}: {what}; the bundle is malformed, re-export it.")


def _parse_file_entry(root: Path, d: Any, where: str) -> FileEntry:
    _require(isinstance(d, dict), root, f"{where} is not an object")
    file, sha256, size = d.get("file"), d.get("sha256"), d.get("size")
    _require(isinstance(file, str) and file, root, f"{where} lacks a valid 'file' (a path inside the bundle)")
    _require(
        isinstance(sha256, str) and _SHA256.fullmatch(sha256),
        root,
        f"{where}.sha256 is {_short(sha256)}, not 64 hexadecimal digits",
    )
    _require(type(size) is int and size >= 0, root, f"{where}.size is {_short(size)}, not a number of bytes")
    confined(root, file)
    return FileEntry(file, sha256.lower(), size)


def _short(value: Any) -> str:
    """``repr(value)`` cut to a length that fits in a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_artifact(root: Path, a: Any, where: str, ids: set[str]) -> Artifact:
    entry = _parse_file_entry(root, a, where)
    fmt, precision, id_ = a.get("format"), a.get("precision"), a.get("id")
    _require(fmt in FORMATS, root, f"{where} has unknown format {_short(fmt)} (known: {', '.join(FORMATS)})")
    _require(
        precision in PRECISIONS,
        root,
        f"{where} has unknown precision {_short(precision)} (known: {', '.join(PRECISIONS)})",
    )
    _require(
        isinstance(id_, str) and re.fullmatch(rf"{fmt}-{precision}(-[A-Za-z0-9_.]+)?", id_),
        root,
        f"{where} has id {_short(id_)}, not '{fmt}-{precision}' as its format and precision require "
        "(optionally followed by '-' and a tag)",
    )
    _require(id_ not in ids, root, f"{where} repeats the id {id_!r}")
    _require(
        entry.file.endswith(SUFFIXES[fmt]),
        root,
        f"{where} is a {fmt} artifact but its file {entry.file!r} does not end in {SUFFIXES[fmt]}",
    )
    listed = a.get("companions") or []
    _require(isinstance(listed, list), root, f"{where}.companions is not a list")
    companions = [_parse_file_entry(root, c, f"{where}.companions[{j}]") for j, c in enumerate(listed)]
    if fmt == "openvino":
        weights = entry.file[: -len(SUFFIXES[fmt])] + ".bin"
        _require(
            weights in {c.file for c in companions},
            root,
            f"{where} does not list its weights file {weights!r} among its companions",
        )
    build, accuracy = a.get("build") or {}, a.get("accuracy")
    _require(isinstance(build, dict), root, f"{where}.build is not an object")
    _require(
        accuracy is None or (type(accuracy) in (int, float) and 0 <= accuracy <= 1),
        root,
        f"{where}.accuracy is {_short(accuracy)}, not a fraction between 0 and 1",
    )
    return Artifact(
        id_,
        fmt,
        precision,
        entry.file,
        entry.sha256,
        entry.size,
        companions,
        None if accuracy is None else float(accuracy),
        build,
    )


def _nesting(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (counting stops past the limit)."""
    deepest, todo = 0, [(value, 1)]
    while todo and deepest <= MAX_MANIFEST_DEPTH:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _read_manifest(root: Path) -> dict:
    """The manifest of ``root`` as a dict, read with a size limit and checked for shape."""
    mpath = confined(root, MANIFEST)
    try:
        with open(mpath, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"{mpath} cannot be read ({exc.strerror}); check the bundle's permissions.") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{mpath} is larger than {MAX_MANIFEST_BYTES // 1024} KiB, far more than a manifest "
            "needs, so it was refused without being read in full; re-export the bundle."
        )
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON ({exc}); the bundle is damaged, re-export it.") from exc
    except RecursionError:  # nested far deeper than the limit
        depth = MAX_MANIFEST_DEPTH + 1
    else:
        depth = _nesting(manifest)
    _require(depth <= MAX_MANIFEST_DEPTH, root, f"lists and objects nest more than {MAX_MANIFEST_DEPTH} levels deep")
    _require(isinstance(manifest, dict), root, f"the top level is {_short(manifest)}, not an object")
    version = manifest.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise BundleError(
            f"{mpath} has schema version {_short(version)}, but this edgedigits reads version "
            f"{SCHEMA_VERSION}; use a matching edgedigits release or re-export the bundle."
        )
    for key in SECTIONS:
        _require(isinstance(manifest.get(key, {}), dict), root, f"'{key}' is not an object")
    labels = manifest.get("labels")
    _require(
        labels is None
        or (isinstance(labels, list) and len(labels) == len(LABELS) and all(isinstance(x, str) for x in labels)),
        root,
        f"'labels' is not a list of {len(LABELS)} names",
    )
    _require(isinstance(manifest.get("model", {}).get("name", ""), str), root, "'model.name' is not a string")
    _require(
        isinstance(manifest.get("artifacts"), list) and manifest["artifacts"],
        root,
        "'artifacts' is missing, empty or not a list",
    )
    return manifest


def _syntax_problem(relative: Any) -> str | None:
    """Why ``relative`` is not a plain relative path inside a folder, or None."""
    if (
        not isinstance(relative, str)
        or not relative
        or os.path.isabs(relative)
        or relative.startswith("/")
        or any(c in relative for c in ("\\", ":", "\0"))
    ):
        return "is not a plain relative path"
    if ".." in relative.split("/"):
        return "contains '..'"
    return None


def _escape_problem(root: Path, relative: str) -> str | None:
    """Why ``root / relative`` (symlinks followed) is not inside ``root``, or None."""
    try:
        real_root = root.resolve()
        real = (root / relative).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return "cannot be resolved (a symlink loop)"
    if real != real_root and real_root not in real.parents:
        return f"leads outside the bundle (to {real})"
    return None


def confined(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths, '..' and symlinks that lead out of ``root``."""
    problem = _syntax_problem(relative) or _escape_problem(root, relative)
    if problem:
        raise BundleError(
            f"{root / MANIFEST}: file path {relative!r} {problem}; "
            "a bundle may only refer to files inside its own folder, so it is refused: re-export it."
        )
    return root / relative


class Bundle:
    """A loaded, validated bundle. Every artifact file is checksum-verified when the bundle is
    loaded (or, with ``verify=False``, on first access), and an ONNX artifact's external-data
    locations are checked before any backend sees it."""

    def __init__(self, path: Path, manifest: dict, artifacts: list[Artifact]):
        self.path = path
        self.manifest = manifest
        self.artifacts = artifacts
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> "Bundle":
        """Load and check the bundle folder ``path``.

        Args:
            verify: check every listed file's size and SHA-256 (and every ONNX model's external
                data) now, so a damaged file is refused whichever artifact is used later. Only
                for tools that inspect a manifest without running anything may it be False;
                artifacts are then verified on first access.
        """
        root = Path(path)
        if root.is_file() and root.name == MANIFEST:
            root = root.parent
        if not root.exists():
            raise BundleError(f"model bundle {root} does not exist; pass a folder that holds {MANIFEST}.")
        if not root.is_dir():
            raise BundleError(f"{root} is a file, not a model bundle folder; pass the folder that holds {MANIFEST}.")
        if not (root / MANIFEST).is_file():
            raise BundleError(
                f"{root} has no {MANIFEST}, so it is not an edgedigits bundle; "
                "export one with 'edgedigits export' or train one with 'edgedigits train'."
            )
        manifest = _read_manifest(root)
        artifacts: list[Artifact] = []
        ids: set[str] = set()
        for i, a in enumerate(manifest["artifacts"]):
            artifacts.append(_parse_artifact(root, a, f"artifacts[{i}]", ids))
            ids.add(artifacts[-1].id)
        bundle = cls(root, manifest, artifacts)
        if verify:
            bundle.verify()
        return bundle

    # -- queries ---------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.manifest.get("model", {}).get("name", "unknown")

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.get("labels") or LABELS)

    @property
    def test_accuracy(self) -> float | None:
        value = self.manifest.get("metrics", {}).get("mnist_test_accuracy")
        return float(value) if type(value) in (int, float) else None

    def find(self, format: str, precision: str | None = None) -> Artifact | None:
        for a in self.artifacts:
            if a.format == format and (precision is None or a.precision == precision):
                return a
        return None

    def select(self, format: str | None = None, precision: str | None = None) -> list[Artifact]:
        return [
            a
            for a in self.artifacts
            if (format is None or a.format == format) and (precision is None or a.precision == precision)
        ]

    def get(self, artifact_id: str) -> Artifact:
        for a in self.artifacts:
            if a.id == artifact_id:
                return a
        raise BundleError(
            f"bundle {self.path} has no artifact {artifact_id!r}; it has: {', '.join(a.id for a in self.artifacts)}."
        )

    # -- verification ----------------------------------------------------------------------
    def verify_file(self, entry: FileEntry) -> Path:
        path = confined(self.path, entry.file)
        if not path.is_file():
            raise BundleError(
                f"{path} is listed in the bundle's manifest but missing; the bundle is incomplete, re-export it."
            )
        size = path.stat().st_size
        if size != entry.size:
            raise BundleError(
                f"{path} is {size} bytes but the manifest says {entry.size}; the file is truncated "
                "or was replaced, so it is refused: re-export the bundle."
            )
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise BundleError(
                f"{path} does not match its SHA-256 in the manifest ({digest[:12]}... vs "
                f"{entry.sha256[:12]}...); the file is corrupted or tampered with, so it is refused: "
                "re-export the bundle."
            )
        return path

    def artifact_path(self, artifact: Artifact | str) -> Path:
        """The main file of ``artifact`` after verifying it and its companions (once per bundle)."""
        if isinstance(artifact, str):
            artifact = self.get(artifact)
        with self._lock:
            if artifact.id not in self._verified:
                for f in artifact.files:
                    self.verify_file(f)
                if artifact.format == "onnx":
                    self.check_external_data(artifact)
                self._verified.add(artifact.id)
        return confined(self.path, artifact.file)

    def check_external_data(self, artifact: Artifact) -> None:
        """Refuse an ONNX ``artifact`` whose tensors keep data in files other than its verified ones.

        A bundle's author writes the manifest and its checksums, so a checksum alone cannot stop
        a model that tells the runtime to read weights from, say, ``../../etc/shadow``. Every
        external-data location must be a plain relative path that stays inside the bundle (after
        symlinks) and names a file the manifest lists for this artifact, hence checksum-verified.
        """
        path = confined(self.path, artifact.file)
        try:
            with open(path, "rb") as f:
                tensors = external_tensors(f.read())
        except MalformedModel as exc:
            raise BundleError(
                f"{path} is not a valid ONNX model ({exc}), so it was refused before any "
                "backend read it; re-export the bundle."
            ) from None
        folder = posixpath.dirname(artifact.file)
        listed = {posixpath.normpath(f.file) for f in artifact.files}
        for tensor in tensors:
            if not tensor.locations:
                raise BundleError(
                    f"{path}: tensor {tensor.name!r} is marked as stored in another file but names "
                    "no file; the model is malformed, re-export the bundle."
                )
            for location in tensor.locations:
                where = f"{path}: tensor {tensor.name!r} keeps its data in {_short(location)}"
                relative = posixpath.join(folder, location)
                problem = _syntax_problem(location) or _escape_problem(self.path, relative)
                if problem:
                    raise BundleError(
                        f"{where}, which {problem}; a bundle may only refer to files inside its own "
                        "folder, so the model was refused before any backend read it: re-export the "
                        "bundle."
                    )
                if posixpath.normpath(relative) not in listed:
                    raise BundleError(
                        f"{where}, a file the manifest does not list for {artifact.id}, so its "
                        "checksum was never verified and the model was refused; re-export the bundle "
                        "with that file listed among the artifact's companions."
                    )

    def verify(self) -> None:
        for a in self.artifacts:
            self.artifact_path(a)

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r}, model={self.model_name!r}, artifacts={[a.id for a in self.artifacts]})"


# Bundles shipped inside the package, by name ("default": the model every API uses when given none).
SHIPPED_BUNDLES = ("default",)


def default_bundle_path(name: str = "default") -> Path:
    """The folder of a bundle shipped inside the package (``name`` in :data:`SHIPPED_BUNDLES`)."""
    return Path(str(resources.files("edgedigits") / "assets" / name))


def resolve_bundle_path(path: str | os.PathLike | None) -> Path:
    """``path`` as a folder: None is the default bundle; a shipped bundle's name (when no folder of
    that name exists here) is that bundle; anything else is a folder path."""
    if path is None:
        return default_bundle_path()
    if isinstance(path, str) and path in SHIPPED_BUNDLES and not Path(path).exists():
        return default_bundle_path(path)
    return Path(path)


def load_bundle(path: str | os.PathLike | None = None, verify: bool = True) -> Bundle:
    """Load the bundle folder ``path``, or a shipped bundle by name ("default"; also None), verified
    as a whole (see :meth:`Bundle.load`)."""
    return Bundle.load(resolve_bundle_path(path), verify=verify)


def make_artifact(
    root: Path,
    id: str,
    format: str,
    precision: str,
    file: str,
    companions: Iterable[str] = (),
    accuracy: float | None = None,
    build: dict | None = None,
) -> Artifact:
    """Describe a file already written under ``root``, computing its checksum and size."""

    def entry(rel: str) -> FileEntry:
        p = root / rel
        return FileEntry(rel, sha256_file(p), p.stat().st_size)

    main = entry(file)
    return Artifact(
        id, format, precision, main.file, main.sha256, main.size, [entry(c) for c in companions], accuracy, build or {}
    )


def base_manifest(model_name: str, params: int, macs: int, outputs: int = DIGITS) -> dict:
    """The manifest of a model with ``outputs`` logits: the ten digits, or 11 with a reject class last."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "edgedigits-bundle",
        "edgedigits_version": __version__,
        "model": {"name": model_name, "params": params, "macs": macs},
        "input": dict(INPUT_SPEC),
        "output": {**OUTPUT_SPEC, "shape": ["batch", outputs]},
        "labels": list(LABELS),
        "artifacts": [],
    }


def write_manifest(root: Path, manifest: dict, artifacts: Iterable[Artifact]) -> dict:
    manifest = dict(manifest)
    manifest["artifacts"] = [a.to_dict() for a in artifacts]
    write_json_atomic(root / MANIFEST, manifest)
    return manifest


def write_training_bundle(
    model, dest: Path, recipe: dict, test_accuracy: float, val_accuracy: float, log=print
) -> Path:
    """Write the bundle of a freshly trained model: FP32 ONNX, the weights and the manifest."""
    import torch

    from .models import count_macs, count_params  # imports torch

    model = model.eval()
    with atomic_dir(dest, force=True) as tmp:
        torch.save(model.state_dict(), tmp / "weights.pt")
        export_onnx(model, tmp / "model.onnx")
        manifest = base_manifest(recipe["model"], count_params(model), count_macs(model), model.outputs)
        manifest["training"] = {"recipe": recipe, "mnist_sha256": checksums()}
        manifest["metrics"] = {
            "mnist_test_accuracy": test_accuracy,
            "validation_accuracy": val_accuracy,
            "mnist_test_images": 10000,
        }
        artifacts = [
            make_artifact(
                tmp, "onnx-fp32", "onnx", "fp32", "model.onnx", accuracy=test_accuracy, build=onnx_build_facts()
            ),
            make_artifact(
                tmp,
                "torch-fp32",
                "torch",
                "fp32",
                "weights.pt",
                accuracy=test_accuracy,
                build={"torch": torch.__version__, "kind": "state_dict (unfused)"},
            ),
        ]
        write_manifest(tmp, manifest, artifacts)
    log(f"wrote bundle {dest}")
    return dest
