"""Full-batch γ: closed forms on a quadratic, the gradient of the whole training loss, an untouched trajectory."""
import pytest
import torch
from torch.nn import functional as F

from nowrongturns.full_batch import MODES, full_batch_epochs, full_batch_gradient, independent_seed, sums_against
from nowrongturns.geometry.metrics import metrics
from nowrongturns.train.engine import Trainer

from .quadratic import quadratic  # noqa: F401 (fixture)


def test_plain_gd_on_an_isotropic_quadratic_has_full_batch_gamma_one(quadratic):  # noqa: F811
    s, lr = quadratic, quadratic["lr"]
    reference = Trainer(s)
    reference.train(s["epochs"])
    w_star = reference.flat.data.clone()
    total = s["epochs"] * s["steps_per_epoch"]
    replay = Trainer(s)
    for epoch in range(s["epochs"]):
        t = epoch * s["steps_per_epoch"]
        for mode in MODES:
            fb = full_batch_gradient(replay, mode)
            m = metrics(**sums_against(replay.flat.data, fb.grad, w_star))
            assert float(m["gamma"]) == pytest.approx(1.0, abs=1e-12), (epoch, mode)
            # d_t = (1 − (1 − lr)^(T − t)) (w_t − c) and G = w_t − c: loLR = 1 − (1 − lr)^(T − t).
            assert float(m["lolr"]) == pytest.approx(1 - (1 - lr) ** (total - t), rel=1e-10)
        replay.run_epoch()
    assert torch.equal(replay.flat.data, w_star)


def test_eval_mode_is_the_gradient_of_the_whole_training_loss(make_settings):
    s = make_settings(model="mlp", width=16, depth=1, dropout=0.3, epochs=1, device="cpu", precision="float64",
                      eval_batch_size=100)
    trainer = Trainer(s)
    fb = full_batch_gradient(trainer, "eval")
    assert trainer.model.training  # its mode is given back
    trainer.model.eval()
    x, y = trainer.task.arrays.x_train.flatten(1), trainer.task.arrays.y_train
    loss = F.cross_entropy(trainer.model(x), y)  # one batch of all 1,437 training images, no dropout
    trainer.flat.zero_grad()
    loss.backward()
    assert fb.loss == pytest.approx(loss.item(), rel=1e-12)
    assert torch.allclose(fb.grad, trainer.flat.grad, rtol=1e-9, atol=1e-15)


def test_full_batch_gradients_leave_the_trajectory_untouched(make_settings):
    """BatchNorm statistics, dropout masks, crops and the RNG: the training-mode pass draws them all."""
    s = make_settings(model="cnn", width=4, depth=1, augment=True, dropout=0.2, optimizer="momentum", epochs=2,
                      batch_size=128, device="cpu")
    measured, plain = Trainer(s), Trainer(s)
    for _ in range(2):
        rng = torch.get_rng_state()
        grads = {mode: full_batch_gradient(measured, mode).grad for mode in MODES}
        assert torch.equal(torch.get_rng_state(), rng)
        assert grads["eval"].dtype == torch.float64 and not torch.equal(grads["eval"], grads["train_own_draws"])
        assert not torch.equal(grads["train_independent"], grads["train_own_draws"])
        measured.run_epoch()
        plain.run_epoch()
    assert torch.equal(measured.flat.data, plain.flat.data)
    for (name, a), (_, b) in zip(measured.model.named_buffers(), plain.model.named_buffers(), strict=True):
        assert torch.equal(a, b), name


def test_full_batch_epochs_are_each_segment_start_and_every_nth():
    assert full_batch_epochs(0, 10, 4) == [0, 4, 8]
    assert full_batch_epochs(10, 20, 4) == [10, 12, 16]
    assert full_batch_epochs(3, 5, 1) == [3, 4]


def test_train_modes_draw_the_run_own_or_an_independent_epoch(make_settings):
    """train_own_draws is the mean of the epoch's own minibatch gradients at w_t; train_independent that of an
    epoch drawn from (seed, epoch, "full_batch"), the run's seed given back after it. Both report E‖G‖² of
    the same minibatches, so the noise share 1 − ‖∇F‖² / E‖G‖² is the closed form from the gradients."""
    s = make_settings(model="mlp", width=8, depth=1, augment=True, dropout=0.2, epochs=1, batch_size=256,
                      device="cpu", precision="float64")
    trainer = Trainer(s)
    measured = {mode: full_batch_gradient(trainer, mode) for mode in ("train_own_draws", "train_independent")}
    assert trainer.settings.seed == trainer.task.seed == s["seed"]
    for mode, seed in (("train_own_draws", s["seed"]), ("train_independent", independent_seed(s["seed"], 0))):
        trainer.reseed(seed)
        plan, grads = trainer.plan(0), []
        for i in range(trainer.steps_per_epoch):
            trainer.gradient(plan, i, 0)
            grads.append(trainer.flat.grad.double().clone())
        trainer.reseed(s["seed"])
        mean = torch.stack(grads).mean(0)
        energy = torch.stack([g @ g for g in grads]).mean()
        assert torch.allclose(measured[mode].grad, mean, rtol=1e-12, atol=1e-18), mode
        assert measured[mode].minibatch_g_sq == pytest.approx(float(energy), rel=1e-12)
        share = 1 - float(mean @ mean) / float(energy)
        assert 0 < share < 1, (mode, share)
