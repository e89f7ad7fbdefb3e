"""What keeps every `dvc` command quick here (issue 22): its YAML parsed in C, no analytics process after it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_dvc_parses_its_yaml_files_with_ruamels_c_parser() -> None:
    """DVC reads dvc.lock, dvc.yaml and params.yaml with `YAML(typ="safe")`; in pure Python that
    parsing was most of a no-op `dvc repro` (ruamel.yaml 0.19.1 no longer installs its C parser)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None
    assert YAML(typ="safe").Parser is CParser


def test_the_project_turns_dvc_analytics_off() -> None:
    """With analytics on, every `dvc` command leaves a process behind that imports DVC again and
    posts a report (about 1 s of CPU on a 2-core machine, and a network call). The committed
    `.dvc/config` turns it off, for every user of the repository."""
    dvc = Path(sys.executable).parent / "dvc"
    result = subprocess.run(
        [str(dvc), "config", "--project", "core.analytics"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "false", result.stderr
