"""The names of the report's folders and tables, by the content drawn in them: a reverted edit finds its old outputs."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nowrongturns.config.pipeline import Pipeline, Study


def figure_hash(pipe: Pipeline, study: Study) -> str:
    """Names a figure folder by everything drawn in it, so a reverted edit finds its old figures."""
    blob = json.dumps(
        {"runs": study.runs, "labels": study.labels, "kinds": study.figures, "figures": pipe.figures},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def table_hash(study: Study) -> str:
    """Names a study's report table by its runs and labels (figure settings do not change it)."""
    blob = json.dumps({"runs": study.runs, "labels": study.labels}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def runs_hash(pipe: Pipeline) -> str:
    """Names the drift summary by the runs it lists."""
    return hashlib.sha256(json.dumps(sorted(pipe.runs)).encode()).hexdigest()[:10]


def overview_studies(pipe: Pipeline) -> list[Study]:
    """The studies drawn in the Figure-1 overview: those that draw γ."""
    return [s for s in pipe.studies.values() if "gamma" in s.figures]


def overview_hash(pipe: Pipeline) -> str:
    blob = json.dumps(
        {"studies": {s.name: [s.runs, s.labels] for s in overview_studies(pipe)}, "figures": pipe.figures},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def findings_hash(pipe: Pipeline) -> str:
    """Names the findings page by what it reads: every study's runs, labels and figures, and which epochs
    the figures show."""
    blob = json.dumps({"studies": {s.name: [s.runs, s.labels, s.figures] for s in pipe.studies.values()},
                       "drop_final_epoch": pipe.figures["drop_final_epoch"]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
