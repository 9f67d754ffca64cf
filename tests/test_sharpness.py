"""Sharpness: power iteration with Hessian-vector products against a quadratic's known top eigenvalue, and a
side pass that leaves the trajectory as it found it."""
import pytest
import torch

from nowrongturns.sharpness import largest_eigenvalue, sharpness_point
from nowrongturns.tasks import models
from nowrongturns.tasks.base import Task
from nowrongturns.train import engine
from nowrongturns.train.engine import Trainer

EIGENVALUES = torch.tensor([10.0, 6.0, 3.0, 1.0, 0.5, 0.1, 0.01, 0.0] * 5, dtype=torch.float64)


class RotatedQuadratic(Task):
    """L(w) = ½ (w − c)ᵀ Q Λ Qᵀ (w − c): Hessian QΛQᵀ everywhere, largest eigenvalue 10."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.steps_per_epoch = settings.steps_per_epoch
        gen = torch.Generator().manual_seed(5)
        q, _ = torch.linalg.qr(torch.randn(40, 40, generator=gen, dtype=torch.float64))
        self.h = (q * EIGENVALUES) @ q.T
        self.c = torch.randn(40, generator=gen, dtype=torch.float64)
        self.model = models.VectorObjective(40, 1.0, torch.Generator().manual_seed(7)).to(device, dtype)

    def loss(self, plan, i, epoch):
        d = self.model.w - self.c
        return 0.5 * d @ self.h @ d


def test_power_iteration_finds_the_largest_eigenvalue_of_a_quadratic(monkeypatch, make_settings):
    monkeypatch.setattr(engine, "build_task", RotatedQuadratic)
    s = make_settings(dataset="none", model="sinusoidal_mixture", width=40, steps_per_epoch=3, epochs=2, lr=0.1,
                      optimizer="sgd", precision="float64", device="cpu")
    trainer = Trainer(s)
    row = sharpness_point(trainer, iterations=60, batches=2)
    # The gap 6/10 shrinks the eigenvalue's error by 0.36 an iteration: far below 1e-6 after 60.
    assert row["lambda_max"] == pytest.approx(10.0, rel=1e-6)
    assert row["residual"] < 1e-6 and row["batches"] == 2 and row["lr"] == 0.1


def test_sharpness_leaves_the_trajectory_untouched(make_settings):
    """BatchNorm statistics, dropout masks, crops, the RNG and the seed: the pass draws from or sets them all."""
    s = make_settings(model="cnn", width=4, depth=1, augment=True, dropout=0.2, optimizer="momentum", epochs=2,
                      batch_size=128, device="cpu")
    measured, plain = Trainer(s), Trainer(s)
    for _ in range(2):
        rng = torch.get_rng_state()
        row = sharpness_point(measured, iterations=3, batches=2)
        assert torch.equal(torch.get_rng_state(), rng) and measured.model.training
        assert row["lambda_max"] > 0 and measured.task.seed == s["seed"]
        measured.run_epoch()
        plain.run_epoch()
    assert torch.equal(measured.flat.data, plain.flat.data)
    for (name, a), (_, b) in zip(measured.model.named_buffers(), plain.model.named_buffers(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(measured.flat.grad, plain.flat.grad)  # the last step's gradient, untouched by autograd.grad


def test_a_negative_eigenvalue_of_larger_magnitude_is_shifted_away():
    """Eigenvalues −8 … 5: power iteration alone lands on −8; the shifted second run finds 5."""
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    eig = torch.linspace(-8.0, 5.0, 30, dtype=torch.float64)
    h = (q * eig) @ q.T
    lam, residual, shifted = largest_eigenvalue(lambda v: h @ v, 400, 30, 0, "cpu")
    assert shifted and lam == pytest.approx(5.0, rel=1e-6) and residual < 1e-5
