"""PyTorch: the reference the other backends are checked against (development machines, CPU/CUDA).

It loads the bundle's ``weights.pt`` state dict with ``torch.load(weights_only=True)`` (no pickled
code runs) into the architecture the manifest names. ``auto`` never picks it on its own accord:
a device app should not need PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..bundle import MANIFEST
from ..errors import BackendError
from .base import Backend, Session, describe


def model_beside(path: Path) -> str | None:
    """The architecture named by the manifest in the folder of ``path``, if there is one."""
    manifest = path.parent / MANIFEST
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["model"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class TorchSession(Session):
    def __init__(self, path: Path, device: str, precision: str, threads: int | None, model: str):
        super().__init__("torch", path, device, precision)
        import torch

        from ..models import create_model  # imports torch

        if threads is not None:
            torch.set_num_threads(threads)  # process-wide in PyTorch
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a hostile or damaged file raises many kinds of error
            if type(exc).__name__ == "UnpicklingError":
                raise BackendError(
                    f"{path} holds pickled objects other than tensors (possibly code), so PyTorch's "
                    "weights-only loader refused it and none of it ran; use a bundle from a "
                    "trusted source or re-export it."
                ) from None
            raise BackendError(f"PyTorch could not load {path} ({describe(exc)}); re-export the bundle.") from exc
        try:
            net = create_model(model)
            net.load_state_dict(state)
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"PyTorch could not load {path} as {model} weights ({describe(exc)}); re-export the bundle."
            ) from exc
        self._device = torch.device(device)
        dtype = torch.float16 if precision == "fp16" else torch.float32
        self._dtype = dtype
        self._net = net.eval().to(self._device, dtype)
        self._torch = torch

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self._device, self._dtype, non_blocking=True)
            return self._net(t).float().cpu().numpy()

    def _native_impl(self):
        torch, net, device, dtype = self._torch, self._net, self._device, self._dtype

        def run(x):
            with torch.inference_mode():
                return net(torch.from_numpy(x).to(device, dtype)).float().cpu().numpy()

        return run

    def _close_impl(self) -> None:
        self._net = None


class TorchBackend(Backend):
    name = "torch"
    package = "torch"
    formats = ("torch",)
    role = "reference for development (needs PyTorch); CPU, CUDA"
    auto_candidate = False

    def _probe_impl(self):
        import torch

        devices = ["cpu"]
        note = f"torch {torch.__version__}"
        if torch.cuda.is_available():
            devices.append("cuda")
            note += f", CUDA: {torch.cuda.get_device_name(0)}"
        else:
            note += ", no CUDA device"
        return devices, note

    def precisions(self, device):
        return ["fp32", "fp16"] if device == "cuda" else ["fp32"]

    def artifact_for(self, bundle, precision, device):
        # One set of FP32 weights serves every precision PyTorch can cast to.
        return bundle.find("torch", "fp32") if precision in self.precisions(device) else None

    def _load_impl(self, path, format, precision, device, threads, model=None, **options):
        model = model or model_beside(path)
        if not model:
            raise BackendError(
                f"{path} has no {MANIFEST} beside it naming its architecture; "
                "pass model='digitnet_s' (or the bundle's model name)."
            )
        return TorchSession(path, device, precision, threads, model)

    def _bundle_options(self, bundle):
        return {"model": bundle.model_name}


BACKEND = TorchBackend
