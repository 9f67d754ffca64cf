"""The paper's networks: shapes, finite gradients, full-size parameter counts, factory errors.

Full-size models are built on the meta device (shapes without memory or init work),
except where their initial weights are compared.
"""
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

from nowrongturns.tasks.architectures import (
    PAPER_CONFIG,
    ResNet,
    SegNet,
    TransformerModel,
    UNet,
    build_resnet,
    max_unpool2x2,
    medium_mlp,
    pixel_cross_entropy,
)

# Backward ops that torch documents as raising under deterministic algorithms on CUDA;
# the pipeline replays CUDA runs with them on, so no network may use them.
CUDA_NONDETERMINISTIC = {"AdaptiveAvgPool2DBackward0", "AdaptiveMaxPool2DBackward0", "MaxUnpool2DBackward0",
                         "NllLoss2DBackward0", "UpsampleBilinear2DBackward0", "ReflectionPad2DBackward0"}


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(build):
    with torch.device("meta"):
        return build()


# ---------------------------------------------------------------- analytic counts, from layer shapes

def conv(c_in, c_out, k, bias=False):
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn(c):
    return 2 * c


def resnet_params(bottleneck: bool, layers, k: float, classes: int, cifar: bool) -> int:
    """torchvision-style ResNet with every channel count c -> round(c k); expansion 4 for bottlenecks."""
    planes = [round(c * k) for c in (64, 128, 256, 512)]
    total = conv(3, planes[0], 3 if cifar else 7) + bn(planes[0])
    c_in = planes[0]
    for stage, (p, blocks) in enumerate(zip(planes, layers, strict=True)):
        for b in range(blocks):
            if bottleneck:
                c_out = 4 * p
                total += conv(c_in, p, 1) + bn(p) + conv(p, p, 3) + bn(p) + conv(p, c_out, 1) + bn(c_out)
            else:
                c_out = p
                total += conv(c_in, p, 3) + bn(p) + conv(p, p, 3) + bn(p)
            if (stage > 0 and b == 0) or c_in != c_out:  # 1x1 projection shortcut
                total += conv(c_in, c_out, 1) + bn(c_out)
            c_in = c_out
    return total + c_in * classes + classes


def cifar_resnet18_params(k: int) -> int:
    """Closed form of resnet_params for ResNet-18 on CIFAR-10, with c = 64k stem channels.

    3x3 convs give 9 c_in c_out: stages 36c², 128c², 512c², 2048c² (projections included) = 2724c²;
    linear terms: stem conv 27c, all BN 2c per channel and the head 8c·10: 257c; head bias 10.
    """
    c = 64 * k
    return 2724 * c**2 + 257 * c + 10


def unet_params(c_in, classes, base):
    c = [base * 2**i for i in range(5)]
    double = lambda a, b: conv(a, b, 3) + bn(b) + conv(b, b, 3) + bn(b)
    total = double(c_in, c[0]) + sum(double(c[i], c[i + 1]) for i in range(4))
    total += sum(conv(c[i + 1], c[i], 2, bias=True) + double(c[i + 1], c[i]) for i in range(4))  # up-conv, double
    return total + conv(c[0], classes, 1, bias=True)


def segnet_params(c_in, classes, width):
    c = [round(v * width) for v in (64, 128, 256, 512, 512)]
    n = (2, 2, 3, 3, 3)
    block = lambda a, b: conv(a, b, 3, bias=True) + bn(b)
    total, prev = 0, c_in
    for ci, ni in zip(c, n, strict=True):  # encoder
        total += block(prev, ci) + (ni - 1) * block(ci, ci)
        prev = ci
    for i in range(5):  # decoder
        total += (n[i] - 1) * block(c[i], c[i])
        total += block(c[i], c[i - 1]) if i else conv(c[0], classes, 3, bias=True)
    return total


def transformer_params(ntoken, ninp, nhead, nhid, nlayers, dropout):
    layer = (3 * ninp * ninp + 3 * ninp) + (ninp * ninp + ninp)  # attention in/out projections
    layer += (ninp * nhid + nhid) + (nhid * ninp + ninp) + 2 * bn(ninp)  # feed-forward, two LayerNorms
    return ntoken * ninp + nlayers * layer + ninp * ntoken + ntoken


# ---------------------------------------------------------------- full-size parameter counts

def test_cifar_resnet18_parameter_counts():
    assert cifar_resnet18_params(1) == resnet_params(False, (2, 2, 2, 2), 1, 10, cifar=True) == 11_173_962
    assert cifar_resnet18_params(2) == resnet_params(False, (2, 2, 2, 2), 2, 10, cifar=True) == 44_662_922
    assert n_params(on_meta(lambda: build_resnet("cifar_resnet18", 1, 10))) == 11_173_962
    assert n_params(on_meta(lambda: build_resnet("cifar_resnet18", 2, 10))) == cifar_resnet18_params(2)


@pytest.mark.parametrize("name, expected", [("resnet18", 11_689_512), ("resnet50", 25_557_032),
                                            ("resnet152", 60_192_808)])
def test_imagenet_resnets_match_torchvision_at_width_1(name, expected):
    ours = on_meta(lambda: build_resnet(name, 1, 1000))
    theirs = on_meta(lambda: getattr(torchvision.models, name)())
    assert n_params(ours) == n_params(theirs) == expected
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_imagenet_resnet_init_is_torchvisions(name):
    torch.manual_seed(0)
    ours = build_resnet(name, 1, 1000).state_dict()
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


@pytest.mark.parametrize("name, bottleneck, layers", [("resnet18", False, (2, 2, 2, 2)),
                                                      ("resnet50", True, (3, 4, 6, 3)),
                                                      ("resnet152", True, (3, 8, 36, 3))])
@pytest.mark.parametrize("width", [0.5, 1, 2])
def test_imagenet_resnet_widths(name, bottleneck, layers, width):
    model = on_meta(lambda: build_resnet(name, width, 1000))
    assert n_params(model) == resnet_params(bottleneck, layers, width, 1000, cifar=False)
    assert model.conv1.out_channels == round(64 * width)
    assert model.fc.in_features == round(512 * width) * (4 if bottleneck else 1)


def test_other_full_size_parameter_counts():
    assert n_params(on_meta(medium_mlp)) == 3072 * 4096 + 4096 + 2 * (4096 * 4096 + 4096) + 4096 * 10 + 10
    assert n_params(on_meta(medium_mlp)) == 46_190_602
    wikitext2 = 33_278  # the example's Corpus vocabulary on WikiText-2
    assert n_params(on_meta(lambda: TransformerModel(wikitext2, **PAPER_CONFIG))) == \
        transformer_params(wikitext2, **PAPER_CONFIG) == 9_747_454
    assert n_params(on_meta(UNet)) == unet_params(3, 6, 32) == 7_763_206
    assert n_params(on_meta(SegNet)) == segnet_params(3, 6, 1.0) == 29_446_470
    assert n_params(on_meta(lambda: SegNet(width=0.5))) == segnet_params(3, 6, 0.5)


# ---------------------------------------------------------------- reduced sizes: forward and backward

@pytest.fixture
def deterministic():
    """The pipeline's CUDA setting; on CPU it still rejects ops with no deterministic kernel anywhere."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def backward_ops(t: torch.Tensor) -> set[str]:
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            stack += [f for f, _ in fn.next_functions]
    return {type(fn).__name__ for fn in seen}


def check_backward(model, loss):
    assert not backward_ops(loss) & CUDA_NONDETERMINISTIC
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


SMALL_CLASSIFIERS = {
    "cifar_resnet18": (lambda: ResNet(BasicBlock, (2, 2, 2, 2), 0.125, 10, cifar=True), (2, 3, 32, 32), 10),
    "resnet18": (lambda: ResNet(BasicBlock, (2, 2, 2, 2), 0.125, 7), (2, 3, 64, 64), 7),
    "resnet50": (lambda: ResNet(Bottleneck, (3, 4, 6, 3), 0.125, 7), (2, 3, 64, 64), 7),
    "resnet152": (lambda: ResNet(Bottleneck, (3, 8, 36, 3), 0.125, 7), (2, 3, 64, 64), 7),
    "medium_mlp": (lambda: medium_mlp(classes=10, width=32), (4, 3, 32, 32), 10),
}


@pytest.mark.parametrize("name", SMALL_CLASSIFIERS)
def test_classifiers_forward_backward(name, deterministic):
    torch.manual_seed(0)
    build, shape, classes = SMALL_CLASSIFIERS[name]
    model = build()
    logits = model(torch.randn(shape))
    assert logits.shape == (shape[0], classes)
    check_backward(model, F.cross_entropy(logits, torch.randint(classes, (shape[0],))))


@pytest.mark.parametrize("build, size", [(lambda: UNet(3, 6, base=4), 32), (lambda: SegNet(3, 6, width=1 / 16), 64),
                                         (lambda: SegNet(3, 6, width=1 / 16), 96)])
def test_segmentation_forward_backward(build, size, deterministic):
    torch.manual_seed(0)
    model = build()
    logits = model(torch.randn(2, 3, size, size + 32))
    assert logits.shape == (2, 6, size, size + 32)
    target = torch.randint(6, (2, size, size + 32))
    loss = pixel_cross_entropy(logits, target)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))
    check_backward(model, loss)


def test_max_unpool2x2_is_max_unpool2d():
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64, requires_grad=True)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    grad = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    ours = max_unpool2x2(pooled, idx)
    theirs = F.max_unpool2d(pooled, idx, 2, 2)
    assert torch.equal(ours, theirs)
    assert torch.equal(*(torch.autograd.grad(y, pooled, grad, retain_graph=True)[0] for y in (ours, theirs)))


def small_lm(dropout=0.2):
    return TransformerModel(ntoken=50, ninp=16, nhead=2, nhid=32, nlayers=2, dropout=dropout)


def test_transformer_forward_backward(deterministic):
    torch.manual_seed(0)
    model = small_lm()
    tokens = torch.randint(50, (7, 3))  # [seq, batch]
    logp = model(tokens)
    assert logp.shape == (7, 3, 50)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(7, 3))
    check_backward(model, F.nll_loss(logp[:-1].reshape(-1, 50), tokens[1:].reshape(-1)))


def test_transformer_is_causal():
    torch.manual_seed(0)
    model = small_lm().eval()
    tokens = torch.randint(50, (7, 3))
    changed = tokens.clone()
    changed[4] = (changed[4] + 1) % 50
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:4], b[:4])
    assert not torch.allclose(a[4:], b[4:])


def test_transformer_dropout_follows_the_global_seed():
    torch.manual_seed(0)
    model = small_lm(dropout=0.5)
    tokens = torch.randint(50, (7, 3))
    runs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        runs.append(model(tokens))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_transformer_runs_in_float64():
    model = small_lm().double()
    assert model(torch.randint(50, (5, 2))).dtype == torch.float64


# ---------------------------------------------------------------- factory

@pytest.mark.parametrize("name, width, named", [("resnet34", 1, "resnet34"), ("cifar_resnet50", 1, "cifar_resnet50"),
                                                ("cifar_resnet18", 0.5, "0.5"), ("resnet50", 3, "3"),
                                                ("resnet152", 0.25, "0.25")])
def test_build_resnet_rejects_unknown_names_and_widths(name, width, named):
    with pytest.raises(ValueError, match=named):
        build_resnet(name, width, 10)
