"""Typed configuration: the one place where `params.yaml` becomes validated objects.

`conf/` (Hydra) is the source of truth; `params.yaml` is its committed composition
(`make params`). Each stage reads only the sections it declares in `dvc.yaml`, turns
them into frozen pydantic models, and never sees a raw dict below that edge. An unknown
key or a wrong type raises `ConfigError` naming the key.

This module loads and checks; the models live beside what they configure: a data set's
description in `data.spec`, the data stages' configs in `data.config`, the model's in
`modeling.config`, the gates' tolerances in `contracts.validation`, the engines in `engines`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from census_income.errors import ConfigError
from census_income.paths import PARAMS_FILE


class Strict(BaseModel):
    """Base for every config model: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def to_snake_case(name: str) -> str:
    """`native-country` -> `native_country`: names that work as identifiers everywhere."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower())
    return "_".join(part for part in cleaned.split("_") if part)


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
        raise ConfigError(_one_line(exc, path, data, fields, params)) from None


def _select(params: dict[str, Any], dotted: str, path: Path) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{path}: {dotted}: missing")
        node = node[part]
    return node


def _one_line(
    exc: ValidationError, path: Path, data: dict[str, Any], fields: dict[str, str], params: dict[str, Any]
) -> str:
    """The first error as `params.yaml: model.n_estimators: <message> (got 'abc')`, naming the
    data set's description file instead for its keys (`conf/datasets/adult.yaml: data.contract...`)."""
    first = exc.errors()[0]
    loc = _key(first["loc"], data)
    if loc and loc[0] in fields:
        loc[0] = fields[loc[0]]
    if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        # a bad or missing `name` is reported on its parent: name the discriminator key itself
        loc.append(str(first.get("ctx", {}).get("discriminator", "")).strip("'"))
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    more = f" [+{exc.error_count() - 1} more]" if exc.error_count() > 1 else ""
    dotted = ".".join(loc)
    return f"{spec_file(dotted, path, params)}: {dotted}: {first['msg']}{shown}{more}"


def _key(loc: tuple[int | str, ...], data: Any) -> list[str]:
    """An error's location as the keys of the input it names. pydantic adds union members to it
    (a discriminator's value such as `spark`, or a member's type such as `float`), which are no
    part of the key: a step is kept when the input has it, or when it is the missing key itself."""
    key: list[str] = []
    node = data
    for at, step in enumerate(loc):
        if isinstance(node, dict):
            present = step in node
        else:
            present = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if present:
            node = node[step]
        elif not (isinstance(node, dict) and at == len(loc) - 1):
            continue  # a union member's name or type
        key.append(str(step))
    return key


class StageConfig(Strict):
    """What one stage reads. `PARAMS` maps each field to its dotted `params.yaml` key: the
    keys the stage declares under `params:` in dvc.yaml (a test holds the two together)."""

    PARAMS: ClassVar[dict[str, str]] = {}

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> Self:
        return load(cls, path, **cls.PARAMS)
