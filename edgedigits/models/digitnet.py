"""DigitNet: a small Conv-BN-ReLU network for 28x28 digits.

Built for edge inference: only 3x3 convolutions, BatchNorm (folded into the convolutions at
export), ReLU, global average pooling and one linear layer; downsampling by strided convolution.
Every op has a fast INT8 kernel in ONNX Runtime, OpenVINO and TensorRT.
"""

from __future__ import annotations

import torch
from torch import nn

from ._registry import register_model

#: Outputs 0-9 are the digits; a model with one more output has a reject class ("not a digit") there.
DIGITS = 10


class DigitNet(nn.Module):
    """Stages of 3x3 Conv-BN-ReLU; ``widths[i]`` channels, ``strides[i]`` stride."""

    def __init__(
        self,
        widths=(16, 24, 32, 64, 64),
        strides=(1, 2, 1, 2, 1),
        num_classes: int = 10,
        dropout: float = 0.1,
        head: str = "gap",
    ):
        super().__init__()
        layers, cin = [], 1
        for width, stride in zip(widths, strides):
            layers += [
                nn.Conv2d(cin, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            cin = width
        self.features = nn.Sequential(*layers)
        # "gap": global average pooling then a linear layer (position-free, fewest parameters);
        # "flatten": a linear layer over the whole last feature map (keeps where strokes are).
        if head not in ("gap", "flatten"):
            raise ValueError(f"head must be 'gap' or 'flatten', not {head!r}")
        side = 28
        for stride in strides:
            side = (side + 2 - 3) // stride + 1
        self.pool = nn.AdaptiveAvgPool2d(1) if head == "gap" else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(cin if head == "gap" else cin * side * side, num_classes)
        self.widths, self.strides = tuple(widths), tuple(strides)

    @property
    def outputs(self) -> int:
        """How many logits the model returns: the ten digits, or 11 with "not a digit" last."""
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(x))

    def fused(self) -> "DigitNet":
        """A copy in eval mode with every BatchNorm folded into the convolution before it."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        model = _copy(self).eval()
        mods = list(model.features)
        fused = []
        i = 0
        while i < len(mods):
            if isinstance(mods[i], nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                fused.append(fuse_conv_bn_eval(mods[i], mods[i + 1]))
                i += 2
            else:
                fused.append(mods[i])
                i += 1
        model.features = nn.Sequential(*fused)
        return model


class GatedDigitNet(DigitNet):
    """DigitNet-SF plus a second-stage "not a digit" check on the same features.

    The ten digit logits ``z`` come from the trunk and linear head as in DigitNet-SF. A small
    gate (two linear layers) reads the same 64 x 7 x 7 features and gives ``h``; the 11th logit
    is ``max(z) + h``. In the softmax over all eleven, a large ``h`` takes the probability away
    from every digit at once, and the order of the ten digit logits - so the digit read with
    rejection off - is exactly that of the network without the gate. Trained with the trunk and
    digit head frozen (recipe ``gate``), the gate is a check added to a finished digit model.
    """

    def __init__(self, gate_hidden: int = 64, **kwargs):
        kwargs.setdefault("head", "flatten")
        super().__init__(num_classes=DIGITS, **kwargs)
        n = self.head.in_features
        self.gate = nn.Sequential(nn.Linear(n, gate_hidden), nn.ReLU(inplace=True), nn.Linear(gate_hidden, 1))

    @property
    def outputs(self) -> int:
        return DIGITS + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.pool(self.features(x)).flatten(1)
        z = self.head(self.dropout(f))
        reject = z.max(dim=1, keepdim=True).values + self.gate(f)
        return torch.cat([z, reject], dim=1)


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def count_macs(model: nn.Module, size: int = 28) -> int:
    """Multiply-accumulates per image of the conv and linear layers."""
    macs, hw = 0, size
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hw = (hw + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1
            macs += m.out_channels * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1] * hw * hw
        elif isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features
    return macs


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@register_model
def digitnet_s(**kwargs) -> DigitNet:
    """The shipped model: about 67k parameters, 4.9M MACs per image."""
    return DigitNet(widths=(16, 24, 32, 64, 64), strides=(1, 2, 1, 2, 1), **kwargs)


@register_model
def digitnet_sf(**kwargs) -> DigitNet:
    """digitnet_s with a linear layer over the whole 7x7 feature map: about 98k parameters, 4.9M MACs."""
    return DigitNet(widths=(16, 24, 32, 64, 64), strides=(1, 2, 1, 2, 1), head="flatten", **kwargs)


@register_model
def digitnet_sfr(**kwargs) -> DigitNet:
    """digitnet_sf with an 11th output, "not a digit" (a reject class trained on generated non-digits)."""
    return DigitNet(
        widths=(16, 24, 32, 64, 64), strides=(1, 2, 1, 2, 1), head="flatten", num_classes=DIGITS + 1, **kwargs
    )


@register_model
def digitnet_sfg(**kwargs) -> GatedDigitNet:
    """digitnet_sf with a second-stage "not a digit" gate (:class:`GatedDigitNet`): 11 outputs."""
    return GatedDigitNet(widths=(16, 24, 32, 64, 64), strides=(1, 2, 1, 2, 1), **kwargs)


@register_model
def digitnet_xs(**kwargs) -> DigitNet:
    """A smaller variant (about 17k parameters) for very small devices and fast tests."""
    return DigitNet(widths=(8, 16, 16, 32, 32), strides=(1, 2, 1, 2, 1), **kwargs)
