"""docs/models.md, "Add a model", followed word for word in a reproduced copy of the project."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run

pytestmark = pytest.mark.slow

PAGE = REPO_ROOT / "docs" / "models.md"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_the_page_has_the_steps() -> None:
    blocks = bash_blocks(PAGE.read_text(encoding="utf-8"))
    assert any("conf/model/" in block for block in blocks) and any("dvc exp run" in block for block in blocks)


def test_add_a_model_as_the_page_says(reproduced_project: Path) -> None:
    project = reproduced_project
    for block in bash_blocks(PAGE.read_text(encoding="utf-8")):
        run(["bash", "-euo", "pipefail", "-c", block], project)
    shown = json.loads(run(["dvc", "exp", "show", "--json", "--no-pager"], project).stdout)
    results = {
        rev.get("name"): rev["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    }
    for name, max_depth in (("gb", 3), ("gb-deeper", 4)):
        data = results[name]
        assert (
            data["params"]["params.yaml"]["data"]["model"]["estimator"] == "sklearn.ensemble.GradientBoostingClassifier"
        )
        assert data["params"]["params.yaml"]["data"]["model"]["max_depth"] == max_depth
        error = data["metrics"]["reports/evaluate/metrics.json"]["data"]["validation"]["error_rate"]
        assert 0 < error < 0.15, f"{name}: validation error {error}"
