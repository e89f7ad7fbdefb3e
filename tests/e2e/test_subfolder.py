"""`census-income` typed in a subfolder of the project, as `dvc` is: the project's files are the
root's, the paths typed are the subfolder's. It once answered from the subfolder instead ("no runs
logged yet", "params.yaml is missing")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import project_env, run
from tests.e2e.test_scoring import MODEL, TEST_SOURCE, data_lines, write_rows

COMMANDS = (["runs"], ["gates"], ["check-lock"], ["exps"], ["lineage", "--no-status", "--no-card"])


def test_commands_in_a_subfolder_read_the_project_and_take_paths_from_the_subfolder(
    reproduced_project: Path,
) -> None:
    root = reproduced_project
    here = root / "notebooks"
    env = project_env(root)
    for command in COMMANDS:
        at_root = run(["census-income", *command], root, env=env).stdout
        assert run(["census-income", *command], here, env=env).stdout == at_root, command
    assert "no runs logged yet" not in at_root

    write_rows(here / "rows.csv", data_lines(root)[:20])
    model = f"../{MODEL}"
    done = run(["census-income", "predict", "rows.csv", "-o", "out/p.parquet", "--model", model], here, env=env)
    assert len(pd.read_parquet(here / "out" / "p.parquet")) == 20, done.stdout
    assert not (root / "out").exists() and not (root / "rows.csv").exists()
    # a path outside the project stays where it was typed; a version or a stage is not a path
    outside = root.parent / "elsewhere.parquet"
    run(["census-income", "predict", f"../{TEST_SOURCE}", "-o", str(outside), "--model", model], here, env=env)
    assert outside.is_file()
    refused = run(
        ["census-income", "predict", "rows.csv", "-o", "x.parquet", "--model", "prod"], here, env=env, check=False
    )
    assert refused.returncode != 0 and "prod" in refused.stderr and not (here / "x.parquet").exists()
