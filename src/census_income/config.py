"""Typed configuration: the one place where `params.yaml` becomes validated objects.

`conf/` (Hydra) is the source of truth; `params.yaml` is its committed composition
(`make params`). Each stage reads only the sections it declares in `dvc.yaml`, turns
them into frozen pydantic models here, and never sees a raw dict below that edge.
An unknown key or a wrong type raises `ConfigError` naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from census_income.errors import ConfigError
from census_income.paths import PARAMS_FILE


class Strict(BaseModel):
    """Base for every config model: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------- data
class SourceFormat(Strict):
    """How to parse a delimited source file as delivered (ingest reads this)."""

    columns: list[str] = Field(min_length=2)
    delimiter: str = ","
    header: bool = False
    comment: str | None = None
    encoding: str = "utf-8"
    missing_marker: str = "?"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        """An encoding Python knows, checked here rather than deep in the first parse."""
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class Label(Strict):
    """The target column and how its raw values map to the positive class."""

    column: str
    positive: str
    strip_suffix: str = ""
    # rows without a label: `refuse` stops at the raw gate (the count and the first rows),
    # `drop` leaves them out in prepare and records how many in the gate summary
    missing: Literal["refuse", "drop"] = "refuse"


class Schema(Strict):
    """Columns after prepare (snake_case): which are categorical, numeric, the label.

    A numeric column holds whole numbers (`int64`) unless listed in `decimal` (`float64`);
    a whole-number column listed in `nullable` may have missing values (`Int64`). How many
    may be missing is the contract's `max_missing`; the dtype depends on the config only.
    """

    categorical: list[str]
    numeric: list[str]
    decimal: list[str] = []
    nullable: list[str] = []
    # heavy-tailed numeric columns featurize passes through log1p before imputing and scaling
    log_transform: list[str] = []
    label: Label

    @model_validator(mode="after")
    def _typed_columns_are_numeric(self) -> Self:
        for key in ("decimal", "nullable", "log_transform"):
            unknown = [c for c in getattr(self, key) if c not in self.numeric]
            if unknown:
                raise ValueError(f"{key}: {unknown[0]!r} is not one of the numeric columns")
        return self

    @property
    def features(self) -> list[str]:
        """Feature columns, categorical first."""
        return [*self.categorical, *self.numeric]

    def dtype(self, column: str) -> str:
        """The prepared dtype of a numeric column: `int64`, `Int64` (may be missing) or `float64`."""
        if column in self.decimal:
            return "float64"
        return "Int64" if column in self.nullable else "int64"

    @property
    def target(self) -> str:
        """The label's column name after prepare."""
        return to_snake_case(self.label.column)


def to_snake_case(name: str) -> str:
    """`native-country` -> `native_country`: names that work as identifiers everywhere."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower())
    return "_".join(part for part in cleaned.split("_") if part)


class Bounds(Strict):
    """A closed interval; `None` leaves a side open."""

    min: float | None = None
    max: float | None = None


class NumericSpec(Bounds):
    """A numeric column's range (whole or decimal numbers) and the share that may be missing
    (more than 0 only for a column the schema lists as `decimal` or `nullable`)."""

    max_missing: float = Field(0.0, ge=0, le=1)


class CategoricalSpec(Strict):
    values: list[str] = Field(min_length=1)
    max_missing: float = Field(0.0, ge=0, le=1)


class Contract(Strict):
    """What the data must look like: the data set's part of its raw and prepared contracts."""

    rows: Bounds
    # the share of positive labels this data set may have (a rate far off means a broken file)
    label_rate: Bounds = Bounds()
    label_values: list[str] = Field(min_length=2)
    categorical: dict[str, CategoricalSpec]
    numeric: dict[str, NumericSpec]
    distribution: list[str] = []


class DataValidation(Strict):
    """Generic data tolerances (the data set's own bounds are in its contract)."""

    max_duplicate_share: float = Field(ge=0, le=1)


class SplitValidation(Strict):
    label_rate_tolerance: float = Field(gt=0)
    quantiles: list[float] = Field(min_length=1)
    quantile_tolerance: float = Field(gt=0)


class MetricsValidation(Strict):
    min_roc_auc: float = Field(ge=0, le=1)
    max_error_rate: float = Field(ge=0, le=1)
    slice_metric: Literal["roc_auc", "average_precision", "accuracy", "error_rate", "f1", "log_loss", "brier"]
    max_slice_gap: float = Field(ge=0)
    min_slice_rows: int = Field(ge=1)


GateMode = Literal["fail", "warn"]


class SynthesisConfig(Strict):
    """How `generate` resamples a real source into a larger synthetic one."""

    chunk_rows: int = Field(500_000, gt=0)
    jitter_absolute: dict[str, int] = {}
    jitter_relative: dict[str, float] = {}


class GeneratePart(Strict):
    reference: str
    share: float = Field(gt=0, le=1)


# --------------------------------------------------------------------- split
class SplitConfig(Strict):
    """How rows become train/validation/test: `official` keeps the delivered files."""

    method: Literal["official", "stratified"]
    test_size: float = Field(0.25, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)


# ------------------------------------------------------------------ features
CategoricalEncoding = Literal["onehot", "ordinal"]


class FeaturesConfig(Strict):
    """Preprocessing fitted on train only."""

    categorical_encoding: CategoricalEncoding = "onehot"
    min_frequency: float | int | None = None
    scale_numeric: bool = True


# --------------------------------------------------------------------- model
class ModelConfig(BaseModel):
    """A model family as `conf/model/<name>.yaml` gives it: the estimator class by import path,
    the category encoding it wants, and every other key an argument of that class.

    The arguments are checked against the estimator itself (`models.build_estimator`: its
    `get_params()` names and its own parameter constraints), not copied into a class here.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)  # the preset's name, shown by `dvc exp show` and sweeps
    estimator: str = Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")  # e.g. sklearn.ensemble.ExtraTreesClassifier
    # what the estimator is fed: one-hot columns, ordinal codes split as numbers, or ordinal
    # codes the estimator splits as categories (`native`); must match features.categorical_encoding
    encoding: Literal["onehot", "ordinal", "native"]

    @property
    def arguments(self) -> dict[str, Any]:
        """The estimator's keyword arguments: every key but `name`, `estimator` and `encoding`."""
        return dict(self.model_extra or {})


# ------------------------------------------------------------------ evaluate
class EvaluateConfig(Strict):
    """Decision threshold, importance settings and plot sizes for evaluate."""

    threshold: float = Field(0.5, gt=0, lt=1)
    calibration_bins: int = Field(10, gt=1)
    importance_repeats: int = Field(3, gt=0)
    importance_max_rows: int = Field(5000, gt=0)
    curve_max_points: int = Field(1000, gt=1)


# -------------------------------------------------------------------- engine
class PandasEngineConfig(Strict):
    """ingest, prepare, split and featurize in one Python process on pandas."""

    name: Literal["pandas"]


class SparkEngineConfig(Strict):
    """The same stages on PySpark (`census_income.spark`); `master` picks local mode or a cluster."""

    name: Literal["spark"]
    master: str = "local[*]"
    app_name: str = "census-income"
    driver_memory: str = "8g"
    shuffle_partitions: int = Field(8, gt=0)
    # more Spark settings: `{spark.executor.memory: 8g}`, or nested as `-S` writes them
    # (`-S +engine.conf.spark.executor.memory=8g`); `spark_settings` flattens them
    conf: dict[str, Any] = {}

    def spark_settings(self) -> dict[str, str]:
        """`conf` as flat Spark settings (`spark.executor.memory: 8g`), values as Spark spells them."""
        flat: dict[str, str] = {}

        def walk(node: dict[str, Any], prefix: str) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(value, f"{prefix}{key}.")
                else:
                    flat[f"{prefix}{key}"] = str(value).lower() if isinstance(value, bool) else str(value)

        walk(self.conf, "")
        return flat


ENGINE_NAMES = ("pandas", "spark")

EngineConfig = Annotated[PandasEngineConfig | SparkEngineConfig, Field(discriminator="name")]
PANDAS_ENGINE = PandasEngineConfig(name="pandas")


C = TypeVar("C", bound=BaseModel)


# The keys under `data` that come from the data set's own files, not from params.yaml: its
# description (the file `data.spec` names: format, schema, slices, contract) and its card (the
# file beside it, `<name>.card.yaml`, for the model card). They are long and nobody sweeps them,
# so they stay out of `dvc exp show`; the stages that read the description declare it as a
# dependency in dvc.yaml, so dvc.lock still pins it. No stage reads the card.
SPEC_KEYS = ("format", "schema", "slices", "contract")
CARD_KEY = "card"


def card_file(spec: Path) -> Path:
    """A data set's card sits beside its description: `adult.yaml` -> `adult.card.yaml`."""
    return spec.with_suffix(".card.yaml")


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The composed parameters as a plain mapping, with the data set's description and card
    under `data` (paths relative to the project root, where stages run)."""
    params = read_composed(path)
    data = params.get("data")
    if isinstance(data, dict) and isinstance(data.get("spec"), str):
        spec = Path(data["spec"])
        described = _read_mapping(spec, f"{path}: data.spec: {spec}: not found")
        unknown = sorted(set(described) - set(SPEC_KEYS))
        if unknown:
            raise ConfigError(f"{spec}: {unknown[0]}: not a data set key (expected one of {', '.join(SPEC_KEYS)})")
        data.update(described)
        _check_column_names(spec, params)
        if card_file(spec).is_file():
            data[CARD_KEY] = _read_mapping(card_file(spec), "")
    return params


def _check_column_names(spec: Path, params: dict[str, Any]) -> None:
    """Every column the configuration names exists where it must, before any stage works: a
    typo in a contract or a transform list is one line naming the key and the column."""
    data = params["data"]

    def names(node: Any, *keys: str) -> list[str]:
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return [str(n) for n in node] if isinstance(node, list | dict) else []

    columns = {to_snake_case(c) for c in names(data, "format", "columns")}
    categorical, numeric = names(data, "schema", "categorical"), names(data, "schema", "numeric")
    label = data.get("schema", {}).get("label", {}) if isinstance(data.get("schema"), dict) else {}
    typed = set(names(data, "schema", "decimal")) | set(names(data, "schema", "nullable"))
    checks = [
        (f"{spec}: schema.categorical", categorical, columns, "a column of format.columns"),
        (f"{spec}: schema.numeric", numeric, columns, "a column of format.columns"),
        (
            f"{spec}: schema.label.column",
            [to_snake_case(str(label.get("column", "")))],
            columns,
            "a column of format.columns",
        ),
        (
            f"{spec}: contract.categorical",
            names(data, "contract", "categorical"),
            set(categorical),
            "a categorical column",
        ),
        (f"{spec}: contract.numeric", names(data, "contract", "numeric"), set(numeric), "a numeric column"),
        (f"{spec}: contract.distribution", names(data, "contract", "distribution"), set(numeric), "a numeric column"),
        (f"{spec}: slices", names(data, "slices"), set(categorical), "a categorical column"),
        (f"{spec}: schema.log_transform", names(data, "schema", "log_transform"), set(numeric), "a numeric column"),
    ]
    if not columns or not isinstance(label, dict):
        return  # the typed config reports a malformed description
    for where, named, known, what in checks:
        unknown = [n for n in named if n not in known]
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]!r} is not {what}")
    contract = data.get("contract", {})
    for name, spec_ in (contract.get("numeric") or {}).items() if isinstance(contract, dict) else []:
        if isinstance(spec_, dict) and (spec_.get("max_missing") or 0) > 0 and name not in typed:
            raise ConfigError(
                f"{spec}: contract.numeric.{name}.max_missing: {name} may be missing only if the schema "
                "lists it in `decimal` or `nullable`"
            )


def read_composed(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml alone, as composed from conf/ (without the data set's files)."""
    return _read_mapping(path, f"{path}: not found (run `make params`)")


def spec_file(dotted: str, params_file: Path, params: dict[str, Any]) -> str:
    """The file a dotted key comes from: the data set's description for its keys, else params.yaml."""
    parts = dotted.split(".")
    data = params.get("data")
    if (
        parts[0] == "data"
        and isinstance(data, dict)
        and len(parts) > 1
        and parts[1] in SPEC_KEYS
        and isinstance(data.get("spec"), str)
    ):
        return str(data["spec"])
    return str(params_file)


def _read_mapping(path: Path, missing: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(missing) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text at byte {exc.start}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def load(config_type: type[C], path: Path = PARAMS_FILE, /, **fields: str) -> C:
    """Build a config from dotted `params.yaml` keys (`StageConfig.load` passes its `PARAMS`).

    `load(FeaturizeConfig, features="features", schema="data.schema")` validates
    `{"features": params["features"], "schema": params["data"]["schema"]}`; an error
    names the full dotted key, e.g. `params.yaml: features.min_frequency: ...`.
    """
    params = read_params(path)
    data = {field: _select(params, dotted, path) for field, dotted in fields.items()}
    try:
        return config_type.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path, fields, params)) from None


def _select(params: dict[str, Any], dotted: str, path: Path) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{path}: {dotted}: missing")
        node = node[part]
    return node


_UNION_TAGS = {"int", "float", "str", "bool", "none"}
_UNION_VALUES = set(ENGINE_NAMES)  # discriminator values of the engine union


def _one_line(exc: ValidationError, path: Path, fields: dict[str, str], params: dict[str, Any]) -> str:
    """The first error as `params.yaml: model.n_estimators: <message> (got 'abc')`, naming the
    data set's description file instead for its keys (`conf/datasets/adult.yaml: data.contract...`)."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] in fields:
        loc[0] = fields[loc[0]]
    # pydantic adds union members to the location: the discriminator's value (`random_forest`)
    # or the member's type (`float`, `literal['sqrt','log2']`); neither is part of the key
    loc = [p for i, p in enumerate(loc) if not (i and (p in _UNION_VALUES or p in _UNION_TAGS or "[" in p))]
    if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        # a bad or missing `name` is reported on its parent: name the discriminator key itself
        loc.append(str(first.get("ctx", {}).get("discriminator", "")).strip("'"))
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    more = f" [+{exc.error_count() - 1} more]" if exc.error_count() > 1 else ""
    dotted = ".".join(loc)
    return f"{spec_file(dotted, path, params)}: {dotted}: {first['msg']}{shown}{more}"


# ------------------------------------------------- what each stage reads
class StageConfig(Strict):
    """What one stage reads. `PARAMS` maps each field to its dotted `params.yaml` key: the
    keys the stage declares under `params:` in dvc.yaml (a test holds the two together)."""

    PARAMS: ClassVar[dict[str, str]] = {}

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> Self:
        return load(cls, path, **cls.PARAMS)


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


class FeaturizeConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "features": "features",
        "chunk_rows": "chunk_rows",
        "schema": "data.schema",
        "contract": "data.contract",
        "split_rules": "validation.split",
        "mode": "validation.mode",
        "engine": "engine",
    }

    features: FeaturesConfig
    chunk_rows: int = Field(gt=0)
    schema_: Schema = Field(alias="schema")
    contract: Contract
    split_rules: SplitValidation
    mode: GateMode
    engine: EngineConfig = PANDAS_ENGINE


class TrainConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "model": "model",
        "features_encoding": "features.categorical_encoding",
        "schema": "data.schema",
        "seed": "seed",
        "mode": "validation.mode",
    }

    model: ModelConfig
    features_encoding: CategoricalEncoding
    schema_: Schema = Field(alias="schema")
    seed: int
    mode: GateMode


class EvaluateStageConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "evaluate": "evaluate",
        "chunk_rows": "chunk_rows",
        "schema": "data.schema",
        "slices": "data.slices",
        "seed": "seed",
        "contract": "data.contract",
        "split_rules": "validation.split",
        "rules": "validation.metrics",
        "mode": "validation.mode",
    }

    evaluate: EvaluateConfig
    chunk_rows: int = Field(gt=0)
    schema_: Schema = Field(alias="schema")
    slices: list[str]
    seed: int
    contract: Contract
    split_rules: SplitValidation
    rules: MetricsValidation
    mode: GateMode
