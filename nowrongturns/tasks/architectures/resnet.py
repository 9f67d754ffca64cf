"""ResNets of the paper's Tables 1–5, with a width multiplier that scales every channel count.

torchvision's blocks are reused as they are; its ResNet class is not, because it
hard-codes the 64-128-256-512 planes and the 64-channel stem. `ResNet` below mirrors
torchvision's construction (module order, names, downsample rule) and init, so at
width 1 it has torchvision's parameters, state-dict keys and, under one seed, weights.
The paper's own code (Hiroki11x/LossLandscapeGeometry, src/model) does the same.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

from nowrongturns.config.registry import MODELS

_DEPTHS = {  # name -> (block, blocks per stage, CIFAR stem)
    "cifar_resnet18": (BasicBlock, (2, 2, 2, 2), True),
    "resnet18": (BasicBlock, (2, 2, 2, 2), False),
    "resnet50": (Bottleneck, (3, 4, 6, 3), False),
    "resnet152": (Bottleneck, (3, 8, 36, 3), False),
}
# The widths the paper trains: ResNet18-1/2 on CIFAR-10; ResNet-{18,50}-{1,2} and ResNet-152-{0.5,1} on ImageNet.
# The registry's rows, which the config validates before any job starts.
WIDTHS = {name: MODELS[name].widths for name in _DEPTHS}


class ResNet(nn.Module):
    """torchvision's ResNet with every channel count c replaced by round(c * width).

    cifar=True gives the kuangliu/pytorch-cifar variant: 3x3 stride-1 stem, no max-pool,
    and PyTorch's default init (that repository sets none). Its blocks are torchvision's
    BasicBlocks, which compute exactly what kuangliu's do (same convs, BN and 1x1 shortcut).
    """

    def __init__(self, block, layers, width: float = 1.0, num_classes: int = 1000, cifar: bool = False):
        super().__init__()
        planes = [round(c * width) for c in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        if cifar:
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        # kuangliu pools with a fixed 4x4 window: the same as this on 32x32 inputs.
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        if not cifar:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet(name: str, width: float, num_classes: int) -> ResNet:
    """One of the paper's ResNets: name in cifar_resnet18, resnet18, resnet50, resnet152."""
    if name not in _DEPTHS:
        raise ValueError(f"unknown ResNet {name!r}; expected one of {sorted(_DEPTHS)}")
    if width not in WIDTHS[name]:
        raise ValueError(f"unsupported width {width!r} for {name!r}; expected one of {WIDTHS[name]}")
    block, layers, cifar = _DEPTHS[name]
    return ResNet(block, layers, width, num_classes, cifar)
