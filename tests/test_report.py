"""The report's captions: one per figure kind, each rendering (as Snakemake renders it: Jinja, then
reStructuredText) without an undefined name or an RST warning. The report itself is built after the
reduced default study in tests/test_pipeline.py."""
from types import SimpleNamespace

import docutils.core
import jinja2
import pytest

from nowrongturns.config import figure_kinds, run_defaults
from nowrongturns.config.describe import about, runs_rst

from .conftest import ROOT

CAPTIONS = [*figure_kinds.KINDS, "overview", "epochs_table", "drift", "findings", "workflow"]


def _snakemake(drop_final_epoch):
    runs = [{"run_id": f"digits-mlp-{o}-0123456789", "label": f"optimizer={o}",
             "about": about({**run_defaults(), "optimizer": o})} for o in ("sgd", "adam")]
    params = SimpleNamespace(runs_rst=runs_rst(runs), drop_final_epoch=drop_final_epoch, tolerance=0.0, runs=runs)
    return SimpleNamespace(params=params, wildcards=SimpleNamespace(study="optimizers"), config={"results": "r"})


def test_every_figure_kind_has_a_caption():
    assert sorted(p.stem for p in (ROOT / "report").glob("*.rst")) == sorted(CAPTIONS)


@pytest.mark.parametrize("name", CAPTIONS)
@pytest.mark.parametrize("drop_final_epoch", [True, False])
def test_caption_renders_as_valid_rst(name, drop_final_epoch):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    text = env.from_string((ROOT / "report" / f"{name}.rst").read_text()).render(snakemake=_snakemake(drop_final_epoch))
    html = docutils.core.publish_parts(text, writer="html", settings_overrides={"halt_level": 2,
                                                                                    "report_level": 2})["body"]
    if "runs_rst" in (ROOT / "report" / f"{name}.rst").read_text():
        # The runs table: a row per run, with its legend, settings and folder.
        assert html.count("<tr") == 3 and "digits-mlp-adam-0123456789" in html and "optimizer=sgd" in html
    if name in ("gamma", "stacked", "lolr"):
        assert ("left out" in html) == drop_final_epoch


def test_findings_have_a_section_for_each_kind_figure_kinds_names():
    from nowrongturns.config.figure_kinds import FINDINGS, KINDS
    from nowrongturns.findings import SECTIONS

    assert tuple(SECTIONS) == FINDINGS and set(FINDINGS) <= set(KINDS)
