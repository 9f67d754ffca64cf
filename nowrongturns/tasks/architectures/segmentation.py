"""UNet and SegNet for Vaihingen (6 classes, RGB), as the paper's code builds them.

Neither network exists in torchvision. The layouts follow the implementations the paper
used (Hiroki11x/LossLandscapeGeometry src/model, taken from milesial/Pytorch-UNet and
nshaud/DeepNetsForEO); both train from scratch with PyTorch's default init.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _scaled(channels, width: float) -> list[int]:
    return [round(c * width) for c in channels]


def pixel_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of −log softmax(logits)[target]; logits [B, C, H, W], target [B, H, W].

    The same loss as F.cross_entropy, written with gather: torch documents NLLLoss as having
    no deterministic CUDA kernel, and the pipeline replays under deterministic algorithms.
    """
    return -F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).mean()


# ---------------------------------------------------------------- UNet

class _DoubleConv(nn.Sequential):
    """(3x3 conv → BN → ReLU) × 2; padded, so sizes are kept (Ronneberger's were unpadded)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class _Up(nn.Module):
    """2x2 up-convolution halving the channels, concatenation with the skip, double conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, kernel_size=2, stride=2)
        self.conv = _DoubleConv(c_in, c_out)  # c_in // 2 up-sampled + c_in // 2 skipped

    def forward(self, x, skip):
        # milesial pads x to the skip's size here; sizes divisible by 16 never need it.
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """4 max-pool downs, 4 up-convolution ups with skip concatenations; base width 32 as in the paper's code."""

    def __init__(self, in_channels: int = 3, classes: int = 6, base: int = 32):
        super().__init__()
        c = [base * 2**i for i in range(5)]
        self.inc = _DoubleConv(in_channels, c[0])
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), _DoubleConv(c[i], c[i + 1])) for i in range(4))
        self.ups = nn.ModuleList(_Up(c[i + 1], c[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(c[0], classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


# ---------------------------------------------------------------- SegNet

def _conv_relu_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # DeepNetsForEO's order (ReLU before BN), which the paper trained; the shapes are VGG16-BN's.
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out)]


def max_unpool2x2(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """F.max_unpool2d(x, indices, 2) for 2x2 stride-2 pooling, without a scatter.

    torch has no deterministic max-unpooling kernel (it raises under
    use_deterministic_algorithms, on CPU too). With non-overlapping windows each output
    pixel gets at most one value, so a block copy masked by the indices is exact.
    """
    b, c, h, w = x.shape

    def up(t):  # each value repeated over its 2x2 window
        return t[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)

    where = torch.arange(4 * h * w, device=x.device).view(2 * h, 2 * w)
    return torch.where(up(indices) == where, up(x), x.new_zeros(()))


class SegNet(nn.Module):
    """VGG16-BN-shaped encoder (13 convs, 5 pools), mirrored decoder that unpools with the pooling indices."""

    def __init__(self, in_channels: int = 3, classes: int = 6, width: float = 1.0):
        super().__init__()
        c, n = _scaled((64, 128, 256, 512, 512), width), (2, 2, 3, 3, 3)
        enc, c_in = [], in_channels
        for ci, ni in zip(c, n, strict=True):
            layers = []
            for _ in range(ni):
                layers += _conv_relu_bn(c_in, ci)
                c_in = ci
            enc.append(nn.Sequential(*layers))
        dec = []
        for i in reversed(range(5)):  # each decoder stage ends in the channels of the stage above it
            layers = [m for _ in range(n[i] - 1) for m in _conv_relu_bn(c[i], c[i])]
            layers += _conv_relu_bn(c[i], c[i - 1]) if i else [nn.Conv2d(c[0], classes, 3, padding=1)]
            dec.append(nn.Sequential(*layers))
        self.encoder, self.decoder = nn.ModuleList(enc), nn.ModuleList(dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices = []
        for stage in self.encoder:
            x, i = F.max_pool2d(stage(x), 2, 2, return_indices=True)
            indices.append(i)
        for stage in self.decoder:
            x = stage(max_unpool2x2(x, indices.pop()))
        return x
