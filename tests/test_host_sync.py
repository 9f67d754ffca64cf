"""No host-device synchronization inside a training step, for every task, with the recorder on.
Runs where a GPU is visible (host syncs exist only between a host and a device)."""
import pytest
import torch

from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.parallel.host_sync import host_syncs
from nowrongturns.train.engine import Trainer

from .test_loaders import write_cifar_batches, write_imagenet, write_vaihingen
from .test_paper_tasks import write_text_corpus

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU: host-device synchronizations exist only with one"),
]


def _tasks(root):
    """name: settings overrides, each with fixture data in the data set's real format."""
    from nowrongturns.tasks.loaders import vaihingen

    write_cifar_batches(root / "cifar" / "cifar-10-batches-py", n=12)
    write_imagenet(root / "imagenet", per_class=4)
    write_text_corpus(root / "text")
    write_vaihingen(root / "vaihingen", vaihingen.TRAIN_IDS + vaihingen.VAL_IDS, size=(40, 44))
    cifar = {"dataset": "cifar10", "data_dir": str(root / "cifar"), "model": "medium_mlp", "width": 32,
             "batch_size": 8, "weight_decay": 1e-4}
    return {
        "digits mlp": {"model": "mlp", "width": 16},
        "digits cnn, crops and dropout": {"model": "cnn", "width": 8, "augment": True, "dropout": 0.2},
        "cifar10 device path": cifar,
        "cifar10 loader path": {**cifar, "data_path": "loader", "num_workers": 2},
        "imagenet": {"dataset": "imagenet", "data_dir": str(root / "imagenet"), "model": "resnet18",
                     "width_multiplier": 0.5, "crop_size": 16, "batch_size": 4, "num_workers": 2},
        "wikitext2 transformer, clipping": {"dataset": "wikitext2", "data_dir": str(root / "text"),
                                            "model": "transformer_lm", "emsize": 16, "nhead": 2, "nhid": 16,
                                            "nlayers": 2, "bptt": 5, "dropout": 0.2, "batch_size": 2,
                                            "optimizer": "adam", "lr": 1e-3, "grad_clip": 0.25},
        "vaihingen unet": {"dataset": "vaihingen", "data_dir": str(root / "vaihingen"), "model": "unet",
                           "width_multiplier": 0.5, "patch_size": 32, "patches_per_epoch": 8, "batch_size": 2},
    }


def test_training_steps_never_wait_for_the_gpu(tmp_path, make_settings):
    found = {}
    for name, overrides in _tasks(tmp_path).items():
        s = make_settings(**{"optimizer": "momentum", "lr": 0.01, "epochs": 2, **overrides, "device": "cuda"})
        trainer = Trainer(s, "sync")
        rec = GeometryRecorder(trainer.flat, trainer.flat.data.detach().clone(), trainer.steps_per_epoch,
                               s["weight_decay"])
        assert type(rec.backend).__name__ == "TritonSums"
        trainer.run_epoch(rec, first_row=0)  # warm-up: compiles kernels, fills caches
        plan = trainer.task.plan(trainer.epoch)  # per epoch: its copies may wait
        with host_syncs() as sites:
            trainer.run_steps(plan, rec, first_row=0)
        torch.cuda.synchronize()
        found[name] = dict(sites)
    assert all(not sites for sites in found.values()), found
