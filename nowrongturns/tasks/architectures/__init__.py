"""The paper's networks beyond the digits study: ResNets, Medium-MLP, Transformer LM, UNet and SegNet."""
from nowrongturns.tasks.architectures.mlp import medium_mlp
from nowrongturns.tasks.architectures.resnet import WIDTHS, ResNet, build_resnet
from nowrongturns.tasks.architectures.segmentation import SegNet, UNet, max_unpool2x2, pixel_cross_entropy
from nowrongturns.tasks.architectures.transformer import PAPER_CONFIG, PositionalEncoding, TransformerModel

__all__ = ["PAPER_CONFIG", "WIDTHS", "PositionalEncoding", "ResNet", "SegNet", "TransformerModel", "UNet",
           "build_resnet", "max_unpool2x2", "medium_mlp", "pixel_cross_entropy"]
