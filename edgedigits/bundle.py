"""The model bundle: a folder with ``manifest.json`` and the artifacts it lists.

The bundle is the unit of deployment. Its manifest records, for every artifact, its format,
precision, file, SHA-256, size, measured accuracy and build facts. Loading a bundle treats it as
untrusted: file paths must stay inside the folder, the schema version must be known, and each
file's checksum is verified before it is handed to a backend.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from ._io import sha256_file
from .errors import BundleError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
FORMATS = ("onnx", "openvino", "tensorrt", "torch")
PRECISIONS = ("fp32", "fp16", "int8")

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
OUTPUT_SPEC = {"name": "logits", "shape": ["batch", 10], "dtype": "float32"}
LABELS = [str(i) for i in range(10)]


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
        d = {"id": self.id, "format": self.format, "precision": self.precision, "file": self.file,
             "sha256": self.sha256, "size": self.size}
        if self.companions:
            d["companions"] = [c.to_dict() for c in self.companions]
        d["accuracy"] = self.accuracy
        d["build"] = self.build
        return d


def _require(cond: bool, where: Path, what: str) -> None:
    if not cond:
        raise BundleError(f"{where / MANIFEST}: {what}; the bundle is malformed, re-export it.")


def _parse_file_entry(root: Path, d: Any, where: str) -> FileEntry:
    _require(isinstance(d, dict), root, f"{where} is not an object")
    for key, typ in (("file", str), ("sha256", str), ("size", int)):
        _require(isinstance(d.get(key), typ), root, f"{where} lacks a valid '{key}'")
    return FileEntry(d["file"], d["sha256"].lower(), d["size"])


def confined(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths, '..' and symlinks that lead out of ``root``."""
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")) or ":" in relative:
        raise BundleError(f"{root / MANIFEST}: file path {relative!r} is not a plain relative path; "
                          "a bundle may only refer to files inside its own folder.")
    parts = Path(relative).parts
    if ".." in parts:
        raise BundleError(f"{root / MANIFEST}: file path {relative!r} contains '..'; "
                          "a bundle may only refer to files inside its own folder.")
    path = root / relative
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise BundleError(f"{root / MANIFEST}: {relative!r} leads outside the bundle (to {real}); "
                          "a bundle may only refer to files inside its own folder.")
    return path


class Bundle:
    """A loaded, validated bundle. Artifact files are checksum-verified on first access."""

    def __init__(self, path: Path, manifest: dict, artifacts: list[Artifact]):
        self.path = path
        self.manifest = manifest
        self.artifacts = artifacts
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = False) -> "Bundle":
        root = Path(path)
        if root.is_file() and root.name == MANIFEST:
            root = root.parent
        if not root.exists():
            raise BundleError(f"model bundle {root} does not exist; pass a folder that holds {MANIFEST}.")
        if not root.is_dir():
            raise BundleError(f"{root} is a file, not a model bundle folder; pass the folder that holds {MANIFEST}.")
        mpath = root / MANIFEST
        if not mpath.is_file():
            raise BundleError(f"{root} has no {MANIFEST}, so it is not an edgedigits bundle; "
                              "export one with 'edgedigits export' or train one with 'edgedigits train'.")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{mpath} is not valid JSON ({exc}); the bundle is damaged, re-export it.") from exc
        _require(isinstance(manifest, dict), root, "the top level is not an object")
        version = manifest.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(f"{mpath} has schema version {version!r}, but this edgedigits reads version "
                              f"{SCHEMA_VERSION}; use a matching edgedigits release or re-export the bundle.")
        _require(isinstance(manifest.get("artifacts"), list) and manifest["artifacts"], root,
                 "'artifacts' is missing or empty")
        artifacts, ids = [], set()
        for i, a in enumerate(manifest["artifacts"]):
            where = f"artifacts[{i}]"
            entry = _parse_file_entry(root, a, where)
            _require(isinstance(a.get("id"), str) and a["id"] not in ids, root, f"{where} has a missing or duplicate id")
            _require(a.get("format") in FORMATS, root, f"{where} has unknown format {a.get('format')!r}")
            _require(a.get("precision") in PRECISIONS, root, f"{where} has unknown precision {a.get('precision')!r}")
            companions = [_parse_file_entry(root, c, f"{where}.companions[{j}]")
                          for j, c in enumerate(a.get("companions") or [])]
            for f in (entry, *companions):
                confined(root, f.file)
            ids.add(a["id"])
            acc = a.get("accuracy")
            artifacts.append(Artifact(a["id"], a["format"], a["precision"], entry.file, entry.sha256, entry.size,
                                      companions, float(acc) if isinstance(acc, (int, float)) else None,
                                      a.get("build") or {}))
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
        return self.manifest.get("metrics", {}).get("mnist_test_accuracy")

    def find(self, format: str, precision: str | None = None) -> Artifact | None:
        for a in self.artifacts:
            if a.format == format and (precision is None or a.precision == precision):
                return a
        return None

    def select(self, format: str | None = None, precision: str | None = None) -> list[Artifact]:
        return [a for a in self.artifacts
                if (format is None or a.format == format) and (precision is None or a.precision == precision)]

    def get(self, artifact_id: str) -> Artifact:
        for a in self.artifacts:
            if a.id == artifact_id:
                return a
        raise BundleError(f"bundle {self.path} has no artifact {artifact_id!r}; it has: "
                          f"{', '.join(a.id for a in self.artifacts)}.")

    # -- verification ----------------------------------------------------------------------
    def verify_file(self, entry: FileEntry) -> Path:
        path = confined(self.path, entry.file)
        if not path.is_file():
            raise BundleError(f"{path} is listed in the bundle's manifest but missing; the bundle is incomplete, "
                              "re-export it.")
        size = path.stat().st_size
        if size != entry.size:
            raise BundleError(f"{path} is {size} bytes but the manifest says {entry.size}; the file is truncated "
                              "or was replaced, so it is refused: re-export the bundle.")
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise BundleError(f"{path} does not match its SHA-256 in the manifest ({digest[:12]}... vs "
                              f"{entry.sha256[:12]}...); the file is corrupted or tampered with, so it is refused: "
                              "re-export the bundle.")
        return path

    def artifact_path(self, artifact: Artifact | str) -> Path:
        """The main file of ``artifact`` after verifying it and its companions (once per bundle)."""
        if isinstance(artifact, str):
            artifact = self.get(artifact)
        with self._lock:
            if artifact.id not in self._verified:
                for f in artifact.files:
                    self.verify_file(f)
                self._verified.add(artifact.id)
        return confined(self.path, artifact.file)

    def verify(self) -> None:
        for a in self.artifacts:
            self.artifact_path(a)

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r}, model={self.model_name!r}, artifacts={[a.id for a in self.artifacts]})"


def default_bundle_path() -> Path:
    """The bundle shipped inside the package."""
    return Path(str(resources.files("edgedigits") / "assets" / "default"))


def load_bundle(path: str | os.PathLike | None = None, verify: bool = False) -> Bundle:
    """Load ``path`` (default: the shipped bundle)."""
    return Bundle.load(default_bundle_path() if path is None else path, verify=verify)


def make_artifact(root: Path, id: str, format: str, precision: str, file: str,
                  companions: Iterable[str] = (), accuracy: float | None = None, build: dict | None = None) -> Artifact:
    """Describe a file already written under ``root``, computing its checksum and size."""
    def entry(rel: str) -> FileEntry:
        p = root / rel
        return FileEntry(rel, sha256_file(p), p.stat().st_size)
    main = entry(file)
    return Artifact(id, format, precision, main.file, main.sha256, main.size,
                    [entry(c) for c in companions], accuracy, build or {})


def base_manifest(model_name: str, params: int, macs: int) -> dict:
    from . import __version__
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "edgedigits-bundle",
        "edgedigits_version": __version__,
        "model": {"name": model_name, "params": params, "macs": macs},
        "input": dict(INPUT_SPEC),
        "output": dict(OUTPUT_SPEC),
        "labels": list(LABELS),
        "artifacts": [],
    }


def write_manifest(root: Path, manifest: dict, artifacts: Iterable[Artifact]) -> dict:
    from ._io import write_json_atomic
    manifest = dict(manifest)
    manifest["artifacts"] = [a.to_dict() for a in artifacts]
    write_json_atomic(root / MANIFEST, manifest)
    return manifest


def write_training_bundle(model, dest: Path, recipe: dict, test_accuracy: float, val_accuracy: float,
                          log=print) -> Path:
    """Write the bundle of a freshly trained model: FP32 ONNX, the weights and the manifest."""
    import torch

    from ._io import atomic_dir
    from .data import checksums
    from .export.onnx import export_onnx, onnx_build_facts
    from .models import count_macs, count_params

    model = model.eval()
    with atomic_dir(dest, force=True) as tmp:
        torch.save(model.state_dict(), tmp / "weights.pt")
        export_onnx(model, tmp / "model.onnx")
        manifest = base_manifest(recipe["model"], count_params(model), count_macs(model))
        manifest["training"] = {"recipe": recipe, "mnist_sha256": checksums()}
        manifest["metrics"] = {"mnist_test_accuracy": test_accuracy, "validation_accuracy": val_accuracy,
                               "mnist_test_images": 10000}
        artifacts = [
            make_artifact(tmp, "onnx-fp32", "onnx", "fp32", "model.onnx", accuracy=test_accuracy,
                          build=onnx_build_facts()),
            make_artifact(tmp, "torch-fp32", "torch", "fp32", "weights.pt", accuracy=test_accuracy,
                          build={"torch": torch.__version__, "kind": "state_dict (unfused)"}),
        ]
        write_manifest(tmp, manifest, artifacts)
    log(f"wrote bundle {dest}")
    return dest
