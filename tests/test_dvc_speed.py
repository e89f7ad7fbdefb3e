"""What keeps every `dvc` command quick here (issue 22): its YAML parsed in C, no analytics process after it,
no full garbage collections at its exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
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


# an unreachable reference cycle whose finalizer writes to stdout: only a garbage collection at
# exit can reach it (the collector is off), and a `dvc` process must skip that collection
EXIT_PROBE = textwrap.dedent(
    """
    import gc, os
    gc.disable()
    class Cycle:
        write = os.write
        def __del__(self):
            self.write(1, b"collected at exit")
    cycle = Cycle()
    cycle.me = cycle
    del cycle
    """
)


def test_a_dvc_command_skips_the_garbage_collections_at_exit_and_nothing_else_does(tmp_path: Path) -> None:
    """The interpreter's teardown ran full collections over the ~1,000 modules DVC imports,
    0.10-0.12 s of every `dvc` command; the site hook installed with the project (a .pth file)
    freezes the collector at exit in a program named `dvc`, and only there."""
    outputs = {}
    for name in ("dvc", "other"):
        script = tmp_path / name
        script.write_text(EXIT_PROBE, encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        outputs[name] = result.stdout
    assert outputs == {"dvc": "", "other": "collected at exit"}
