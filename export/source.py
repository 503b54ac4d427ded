"""Where an export starts: a bundle folder (default: the shipped one) or a training checkpoint.

Either way the result is a :class:`Source`: an FP32 ONNX model to build every artifact from,
the manifest fields to carry into the new bundle, and - when PyTorch can load the weights - the
PyTorch model, whose outputs every FP32 artifact is checked against.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .._deps import has
from ..bundle import MANIFEST, Bundle, base_manifest, load_bundle
from ..errors import BundleError, ExportError
from ..train import load_checkpoint
from .onnx import export_onnx, onnx_build_facts


@dataclass
class Source:
    """A model ready to export.

    Attributes:
        description: for messages, e.g. 'bundle edgedigits/assets/default'.
        manifest: the new bundle's manifest fields (everything but ``artifacts``).
        onnx_path: the FP32 ONNX model (a file of the source bundle or exported into the work folder).
        onnx_build: build facts of that ONNX model.
        torch_model: the PyTorch model (eval mode) or None when PyTorch is absent.
        weights: a state-dict file to carry into the bundle as ``torch-fp32``, or None.
        weights_build: its build facts.
        weights_accuracy: its accuracy as the source recorded it.
    """

    description: str
    manifest: dict
    onnx_path: Path
    onnx_build: dict
    torch_model: object | None = None
    weights: Path | None = None
    weights_build: dict = field(default_factory=dict)
    weights_accuracy: float | None = None


def load_model_source(model: str | os.PathLike | None, work: Path) -> Source:
    """Resolve ``--model``: None (the shipped bundle), a bundle folder, or a checkpoint file."""
    if model is None:
        return _from_bundle(load_bundle())
    path = Path(model)
    if not path.exists():
        raise ExportError(
            f"--model {path} does not exist; pass a bundle folder (with {MANIFEST}) or a training "
            "checkpoint such as runs/NAME/checkpoint.pt."
        )
    if path.is_dir() or path.name == MANIFEST:
        return _from_bundle(load_bundle(path))
    return _from_checkpoint(path, work)


def _from_bundle(bundle: Bundle) -> Source:
    artifact = bundle.find("onnx", "fp32")
    if artifact is None:
        raise BundleError(
            f"bundle {bundle.path} has no FP32 ONNX model (onnx-fp32) to export from; "
            "export from the training checkpoint instead (--model runs/NAME/checkpoint.pt)."
        )
    onnx_path = bundle.artifact_path(artifact)  # verifies its SHA-256
    manifest = {k: v for k, v in bundle.manifest.items() if k != "artifacts"}
    source = Source(f"bundle {bundle.path}", manifest, onnx_path, dict(artifact.build))
    weights = bundle.find("torch", "fp32")
    if weights is not None:
        source.weights = bundle.artifact_path(weights)
        source.weights_build = dict(weights.build)
        source.weights_accuracy = weights.accuracy
        if has("torch"):
            source.torch_model = _load_weights(bundle.model_name, source.weights)
    return source


def _load_weights(name: str, path: Path):
    import torch

    from ..models import create_model  # imports torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise BundleError(
            f"{path} is not a readable state dict ({type(exc).__name__}); the bundle is damaged, re-export it."
        ) from exc
    return _fit(create_model(name), state, name, path)


def _fit(model, state, name: str, path: Path):
    """``model`` with ``state`` loaded, or one clear error when the weights do not fit it."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc)[:160])
        raise ExportError(
            f"the weights in {path} do not fit the {name} architecture ({first.rstrip('.')}); "
            "it is a checkpoint of another model, so export it with the edgedigits version "
            "that trained it."
        ) from exc
    return model.eval()


def _from_checkpoint(path: Path, work: Path) -> Source:
    state = load_checkpoint(path)
    config = state["config"] if isinstance(state["config"], dict) else {}
    name = config.get("model")
    if not isinstance(name, str):
        raise ExportError(
            f"{path} does not say which model it holds (config['model'] is missing); "
            "export a checkpoint written by 'edgedigits train'."
        )
    import torch

    from ..models import count_macs, count_params, create_model  # imports torch

    try:
        model = create_model(name)
    except BundleError as exc:
        raise ExportError(
            f"{path} holds a {name!r} model, an architecture this edgedigits does not know "
            f"({str(exc).split('; ')[-1].rstrip('.')}); export it with the edgedigits version "
            "that trained it."
        ) from exc
    model = _fit(model, state["model"], name, path)
    onnx_path = export_onnx(model, work / "model.onnx")
    weights = work / "weights.pt"
    torch.save(model.state_dict(), weights)
    manifest = {
        k: v
        for k, v in base_manifest(name, count_params(model), count_macs(model), model.outputs).items()
        if k != "artifacts"
    }
    manifest["training"] = {"checkpoint": path.name, "epoch": state["epoch"], "recipe": config}
    return Source(
        f"checkpoint {path}",
        manifest,
        onnx_path,
        onnx_build_facts(),
        model,
        weights,
        {"torch": torch.__version__, "kind": "state_dict (unfused)"},
    )


def copy_into(src: Path, root: Path, relative: str) -> None:
    dst = root / relative
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
