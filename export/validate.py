"""Checking an exported artifact's outputs against its source model, as optimum does.

A mismatch raises :class:`OutputMismatchError`, which names the artifact, the output that
differed, by how much, and against what.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExportError
from ..rejection import predicted

# Max abs logit difference allowed between an FP32 artifact and its FP32 source.
FP32_ATOL = 1e-3


@dataclass(frozen=True)
class Comparison:
    """How far ``candidate`` logits are from ``reference`` logits on the same images."""

    max_abs_diff: float
    label_mismatches: int
    images: int

    def facts(self) -> dict:
        return {
            "max_abs_logit_diff": float(f"{self.max_abs_diff:.3g}"),
            "label_mismatches": self.label_mismatches,
            "images": self.images,
        }


class OutputMismatchError(ExportError):
    """An artifact's outputs differ from its source model's beyond the tolerance."""

    def __init__(self, artifact: str, output: str, reference: str, comparison: Comparison, atol: float):
        self.artifact, self.output, self.reference = artifact, output, reference
        self.comparison, self.atol = comparison, atol
        super().__init__(
            f"{artifact}: output '{output}' differs from {reference} by up to {comparison.max_abs_diff:.3g} "
            f"(tolerance {atol:g}) and {comparison.label_mismatches} of {comparison.images} predicted digits "
            "differ; the conversion is wrong, so it is refused."
        )


def compare(reference: np.ndarray, candidate: np.ndarray) -> Comparison:
    """Compare two N x C logit arrays computed on the same images."""
    if reference.shape != candidate.shape:
        raise ExportError(
            f"outputs of shape {candidate.shape} cannot be compared with the source's {reference.shape}; "
            "the exported model has a different output layout, so it is refused."
        )
    diff = float(np.max(np.abs(reference.astype(np.float64) - candidate.astype(np.float64))))
    mismatches = int(np.count_nonzero(predicted(reference) != predicted(candidate)))
    return Comparison(diff, mismatches, len(reference))


def validate_outputs(
    artifact: str,
    reference_name: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    atol: float = FP32_ATOL,
    output: str = "logits",
) -> Comparison:
    """Compare and raise :class:`OutputMismatchError` if any logit differs by more than ``atol``
    or any predicted digit differs."""
    result = compare(reference, candidate)
    if not result.max_abs_diff <= atol or result.label_mismatches:
        raise OutputMismatchError(artifact, output, reference_name, result, atol)
    return result


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted(logits) == labels))
