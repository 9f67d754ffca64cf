"""The prose about the analyses quotes no number by hand: results live in the findings page the rule
`findings` writes from the tables (docs/findings.md for the default study)."""
import re

import pytest

from .conftest import ROOT

# A decimal such as 0.42 or 1.5, a percentage or an n-fold: how a result is quoted. Code spans, links and
# headings are skipped (settings such as `lolr_scale: 0.01` and arXiv numbers live there).
_RESULT = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|\d+ ?%|\d+-fold")


def _prose(text: str) -> str:
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("#", "|", "!")))


@pytest.mark.parametrize("page", ["docs/beyond-the-paper.md", "README.md"])
def test_analysis_prose_quotes_no_hand_typed_result(page):
    found = _RESULT.findall(_prose((ROOT / page).read_text(encoding="utf-8")))
    # Inputs named in prose (c = 0.01, lr 0.05, a 20% decay, Python 3.10) are not results; they are listed here.
    allowed = {"0.01", "0.05", "0.001", "0.9", "20%", "2602.23696", "3.10"}
    assert set(found) <= allowed, sorted(set(found) - allowed)


def test_findings_page_is_the_rule_output_with_its_machine():
    text = (ROOT / "docs/findings.md").read_text(encoding="utf-8")
    assert text.startswith("# Findings\n")
    sections = re.findall(r"^## (\S+): (\S+)$", text, flags=re.MULTILINE)
    assert ("optimizers", "full_batch") in sections and ("schedules", "schedules") in sections
    assert text.count("Computed on: ") == len(sections)
