"""Compose `conf/` into `params.yaml` exactly as `dvc exp run` does (DVC's own function)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from census_income.errors import PipelineError
from census_income.paths import CONF_DIR, PARAMS_FILE


def compose_params(output: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR, overrides: list[str] | None = None) -> None:
    """Write the composition of `conf_dir` (plus Hydra overrides) to `output`."""
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from census_income.errors import InputError

    try:
        compose_and_dump(output, str(conf_dir.resolve()), None, "config", str(Path.cwd()), overrides or [])
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__
        detail = f" ({str(cause).splitlines()[0]})" if cause is not None and str(cause).strip() else ""
        raise InputError(f"{conf_dir}: {str(exc).splitlines()[0]}{detail}") from None


def params_command(overrides: list[str], output: Path | None, conf_dir: Path = CONF_DIR) -> str:
    """`census-income params`: recompose params.yaml, or return a preview of the overrides' composition.

    Overrides never reach params.yaml: CI rejects a params.yaml that `conf/` does not compose.
    """
    target = output or PARAMS_FILE
    if not overrides or target.resolve() != PARAMS_FILE.resolve():
        compose_params(target, conf_dir, overrides)
        return ""
    if output is not None:
        raise PipelineError(
            f"overrides would make {PARAMS_FILE} differ from {conf_dir}/, which CI rejects: put them in "
            f"{conf_dir}/ (`census-income exp-branch` does it for an experiment), or preview them without -o"
        )
    with tempfile.TemporaryDirectory() as tmp:
        preview = Path(tmp) / PARAMS_FILE.name
        compose_params(preview, conf_dir, overrides)
        return preview.read_text(encoding="utf-8")
