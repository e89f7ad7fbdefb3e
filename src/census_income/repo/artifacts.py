"""The artifacts `dvc.yaml` declares (`artifacts:`): the model, and the data set it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError
from census_income.repo.git import yaml_at

DVC_FILE = Path("dvc.yaml")


@dataclass(frozen=True)
class Declared:
    """The artifacts `dvc.yaml` declares: the model (type `model`) and its data set (`dataset`)."""

    model: str
    model_path: str
    data: str | None = None
    data_path: str | None = None


def declared(dvc_yaml: dict[str, Any]) -> Declared:
    """The model and data set artifacts of a `dvc.yaml` mapping (one model is required)."""
    artifacts = dvc_yaml.get("artifacts") or {}
    models = [(name, spec["path"]) for name, spec in artifacts.items() if spec.get("type") == "model"]
    if len(models) != 1:
        raise PipelineError(f"{DVC_FILE}: expected one artifact of type model under `artifacts:`, found {len(models)}")
    data = [(name, spec["path"]) for name, spec in artifacts.items() if spec.get("type") == "dataset"]
    return Declared(models[0][0], models[0][1], *(data[0] if data else (None, None)))


def model_artifact(root: Path) -> Declared:
    """The artifacts declared in the workspace's dvc.yaml."""
    return declared(yaml_at(root, None, DVC_FILE))
