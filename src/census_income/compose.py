"""Compose `conf/` into `params.yaml` exactly as `dvc exp run` does (DVC's own function)."""

from __future__ import annotations

from pathlib import Path

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
