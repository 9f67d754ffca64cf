"""Pretrained starts (run settings init_from, init_prefix_map): the weights a run starts from, the file's
digest in the run's id, and errors before any job."""
import pytest
import torch
from safetensors.torch import save_file

from nowrongturns.config import ConfigError, load
from nowrongturns.train.engine import Trainer

RUN = {"dataset": "digits", "model": "mlp", "width": 16, "depth": 1, "epochs": 1, "batch_size": 64, "device": "cpu"}


def donor(seed=7) -> dict:
    """The state dict of the same model from another seed: weights that differ from the run's own w0."""
    return {k: v.clone() for k, v in Trainer({**RUN, "seed": seed}).model.state_dict().items()}


def config(results, **run) -> dict:
    return {"results": str(results), "studies": {"ft": {"base": {**RUN, **run}, "figures": ["gamma"]}}}


def run_of(cfg):
    (run,) = load(cfg, read_data=False).runs.values()  # no check in a subprocess: the next test has those
    return run


def test_a_run_starts_from_the_file_in_either_format_and_keeps_what_it_lacks(tmp_path):
    weights = donor()
    torch.save({"model": {"module." + k: v for k, v in weights.items()}}, tmp_path / "w.pt")
    save_file({k: v for k, v in weights.items() if not k.startswith("net.3.")}, tmp_path / "w.safetensors")
    own = Trainer(RUN).model.state_dict()
    for file, prefix_map in [("w.pt", {"module.": ""}), ("w.safetensors", {})]:
        run = run_of(config(tmp_path / "results", init_from=str(tmp_path / file), init_prefix_map=prefix_map))
        state = Trainer(run.typed).model.state_dict()
        for name, value in state.items():
            expected = own[name] if (file == "w.safetensors" and name.startswith("net.3.")) else weights[name]
            assert torch.equal(value, expected), (file, name)


def test_the_files_digest_names_the_run_not_its_path(tmp_path):
    torch.save(donor(), tmp_path / "a.pt")
    (tmp_path / "b.pt").write_bytes((tmp_path / "a.pt").read_bytes())
    torch.save(donor(seed=8), tmp_path / "c.pt")
    ids = {f: run_of(config(tmp_path / "results", init_from=str(tmp_path / f))).run_id for f in ("a.pt", "b.pt", "c.pt")}
    plain = run_of(config(tmp_path / "results")).run_id
    assert ids["a.pt"] == ids["b.pt"] != ids["c.pt"]
    assert plain not in ids.values()


def test_weights_that_do_not_fit_are_refused_before_any_job(tmp_path):
    weights = donor()
    weights["net.1.weight"] = torch.zeros(3, 3)
    torch.save(weights, tmp_path / "bad.pt")
    torch.save({**donor(), "head.weight": torch.zeros(1)}, tmp_path / "other.pt")
    cases = [("bad.pt", {}, "net.1.weight has shape [3, 3] in the file and [16, 64] in the model"),
             ("other.pt", {}, "the model has no tensor 'head.weight'"),
             ("missing.pt", {}, "no such file")]
    for file, prefix_map, message in cases:
        with pytest.raises(ConfigError) as err:
            load(config(tmp_path / "results", init_from=str(tmp_path / file), init_prefix_map=prefix_map))
        assert "config key studies.ft.base.init_from" in str(err.value) and message in str(err.value)
    # A head the new model lacks, dropped by its prefix: the rest loads.
    load(config(tmp_path / "results", init_from=str(tmp_path / "other.pt"), init_prefix_map={"head.": None}))


def test_the_weights_command_names_a_run_it_cannot_find(tmp_path, capsys):
    from nowrongturns.cli import main

    (tmp_path / "config.yaml").write_text(f"results: {tmp_path / 'results'}\nstudies:\n  ft:\n    base: {{epochs: 1}}\n")
    assert main(["weights", str(tmp_path / "config.yaml"), "ft/nope", str(tmp_path / "w.pt")]) == 2
    assert "no run 'ft/nope' in the config" in capsys.readouterr().err
    run_id = next(iter(load({"results": str(tmp_path / "results"), "studies": {"ft": {"base": {"epochs": 1}}}}).runs))
    assert main(["weights", str(tmp_path / "config.yaml"), run_id, str(tmp_path / "w.pt")]) == 2
    assert "missing" in capsys.readouterr().err  # not trained yet: no checkpoint to export
