"""An isotropic quadratic task for closed forms: L(w) = ½‖w − c‖², the same at every step, so plain GD
moves w on the straight line from w0 toward c: w_t − c = (1 − lr)^t (w0 − c)."""
import pytest
import torch

from nowrongturns.tasks import models
from nowrongturns.tasks.base import Task
from nowrongturns.train import engine


class IsotropicQuadratic(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.steps_per_epoch = settings.steps_per_epoch
        gen = torch.Generator().manual_seed(1234)
        self.c = torch.randn(settings.width, generator=gen, dtype=torch.float64).to(device, dtype)
        self.model = models.VectorObjective(settings.width, 1.0, torch.Generator().manual_seed(7)).to(device, dtype)

    def objective(self):
        return 0.5 * (self.model.w - self.c).square().sum()

    def loss(self, plan, i, epoch):
        return self.objective()

    def full_batch_terms(self):
        yield self.objective(), 1

    @torch.no_grad()
    def evaluate(self):
        return {"full_loss": self.objective().item()}


@pytest.fixture
def quadratic(monkeypatch, make_settings):
    """Settings of a plain-GD run on IsotropicQuadratic (float64), which Trainer then builds."""
    monkeypatch.setattr(engine, "build_task", IsotropicQuadratic)
    return make_settings(dataset="none", model="sinusoidal_mixture", width=40, steps_per_epoch=5, epochs=6,
                         lr=0.1, optimizer="sgd", precision="float64", device="cpu")
