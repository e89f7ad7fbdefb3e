"""What the data stages read (generate, ingest, prepare, split): their own settings, and each
stage's config, the `params.yaml` keys it declares in dvc.yaml as typed fields."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from census_income.config import StageConfig, Strict
from census_income.contracts.validation import DataValidation, GateMode, SplitValidation
from census_income.data.spec import Contract, Schema, SourceFormat
from census_income.engines import PANDAS_ENGINE, EngineConfig


class SplitConfig(Strict):
    """How rows become train/validation/test: `official` keeps the delivered files."""

    method: Literal["official", "stratified"]
    test_size: float = Field(0.25, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)


class SynthesisConfig(Strict):
    """How `generate` resamples a real source into a larger synthetic one."""

    chunk_rows: int = Field(500_000, gt=0)
    jitter_absolute: dict[str, int] = Field(default_factory=dict)
    jitter_relative: dict[str, float] = Field(default_factory=dict)


class GeneratePart(Strict):
    reference: str
    share: float = Field(gt=0, le=1)


DATA_PARAMS = {
    "format": "data.format",
    "schema": "data.schema",
    "contract": "data.contract",
    "rules": "validation.data",
    "mode": "validation.mode",
}


class DataStageConfig(StageConfig):
    """What every stage that reads a source format and gates it on the data contract reads."""

    PARAMS: ClassVar[dict[str, str]] = DATA_PARAMS

    format: SourceFormat
    schema_: Schema = Field(alias="schema")
    contract: Contract
    rules: DataValidation
    mode: GateMode


class IngestConfig(DataStageConfig):
    PARAMS: ClassVar[dict[str, str]] = {**DATA_PARAMS, "engine": "engine"}

    engine: EngineConfig = PANDAS_ENGINE


class PrepareConfig(IngestConfig):
    """Prepare reads what ingest reads, and exactly the raw parts `data.source` declares: a part
    left in `data/raw/` by an earlier configuration is never read."""

    PARAMS: ClassVar[dict[str, str]] = {**IngestConfig.PARAMS, "source": "data.source"}

    source: dict[str, str] = Field(min_length=1)

    def raw_parts(self, raw_dir: Path) -> dict[str, Path]:
        """`part -> data/raw/<part>.parquet` for each declared part (ingest writes that name)."""
        return {part: raw_dir / f"{part}.parquet" for part in self.source}


class GenerateConfig(DataStageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        **DATA_PARAMS,
        "generate": "data.generate",
        "synthesis": "data.synthesis",
        "rows": "data.rows",
        "seed": "seed",
    }

    generate: dict[str, GeneratePart]
    synthesis: SynthesisConfig
    rows: int = Field(gt=0)
    seed: int


class SplitStageConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "split": "split",
        "schema": "data.schema",
        "seed": "seed",
        "contract": "data.contract",
        "rules": "validation.data",
        "split_rules": "validation.split",
        "mode": "validation.mode",
        "engine": "engine",
    }

    split: SplitConfig
    schema_: Schema = Field(alias="schema")
    seed: int
    contract: Contract
    rules: DataValidation
    split_rules: SplitValidation
    mode: GateMode
    engine: EngineConfig = PANDAS_ENGINE
