"""Model definitions (PyTorch). Importing this package imports torch."""

from ._registry import create_model, list_models, register_model
from .digitnet import DigitNet, count_macs, count_params

__all__ = ["create_model", "list_models", "register_model", "DigitNet", "count_macs", "count_params"]
