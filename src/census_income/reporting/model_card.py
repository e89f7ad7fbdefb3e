"""A Markdown model card for the current model, written by `census-income lineage`.

Everything in it comes from records the pipeline already keeps: the lineage (`dvc.lock`),
the parameters the model was trained with (train's entry in `dvc.lock`), the metrics files
`dvc.yaml` declares, and the data set's own card (beside its description, for example
`conf/datasets/adult.card.yaml`: intended use, limitations, license and attribution, which
travel with the data). The card names the git commit, so it is not a DVC output: it is
written beside them and git-ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from census_income.config import Strict
from census_income.errors import ConfigError
from census_income.modeling.metrics import SE_SUFFIX
from census_income.paths import GATE_SUMMARIES_DIR, SLICE_METRICS_NAME
from census_income.repo.artifacts import DVC_FILE
from census_income.repo.lock import flatten
from census_income.reporting.lineage_trace import Lineage, param_text

NOT_IN_WORKSPACE = "not in the workspace (run `dvc pull`)"


class DataCard(Strict):
    """What a data set's config says about it, for the model card."""

    title: str
    description: str = ""
    intended_use: str
    limitations: tuple[str, ...] = ()
    license: str
    citation: str


def data_card(params: Mapping[str, Any]) -> DataCard | None:
    """The data set's card (`<name>.card.yaml` beside its description, read by `read_params`), validated;
    None when the data set has none."""
    raw = params.get("data", {}).get("card")
    if raw is None:
        return None
    try:
        return DataCard.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["card", *(str(p) for p in first["loc"])])
        raise ConfigError(f"{key}: {first['msg']} (the data set's card file)") from None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def _number(value: Any) -> str:
    if value is None:
        return "—"  # undefined (an AUC on a one-class slice)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _is_metrics(node: Any) -> bool:
    """Numbers by name (None where a metric is undefined, as on a one-class slice)."""
    return (
        isinstance(node, Mapping) and bool(node) and all(v is None or isinstance(v, int | float) for v in node.values())
    )


def overall_metrics(data: Any) -> dict[str, dict[str, Any]] | None:
    """`{split: {metric: value}}` when the file has that shape."""
    if isinstance(data, Mapping) and data and all(_is_metrics(v) for v in data.values()):
        return {str(k): dict(v) for k, v in data.items()}
    return None


def slice_metrics(data: Any) -> dict[str, dict[str, dict[str, dict[str, Any]]]] | None:
    """`{split: {column: {value: {metric: value}}}}` when the file has that shape."""
    if not isinstance(data, Mapping) or not data:
        return None
    for columns in data.values():
        if not isinstance(columns, Mapping) or not columns:
            return None
        for values in columns.values():
            if not isinstance(values, Mapping) or not values or not all(_is_metrics(m) for m in values.values()):
                return None
    return {str(k): dict(v) for k, v in data.items()}


def _with_error(values: Mapping[str, Any], name: str) -> str:
    """A metric's value, ± its standard error where evaluate recorded one."""
    error = values.get(f"{name}{SE_SUFFIX}")
    return _number(values.get(name, "")) + (f" ± {_number(error)}" if error is not None else "")


def metrics_section(metrics: Mapping[str, Any]) -> list[str]:
    """Tables for every metrics file: overall per split, then per slice."""
    lines: list[str] = []
    for path, data in metrics.items():
        if data is None:
            lines += ["", f"`{path}`: {NOT_IN_WORKSPACE}"]
        elif (overall := overall_metrics(data)) is not None:
            names = sorted({name for values in overall.values() for name in values if not name.endswith(SE_SUFFIX)})
            rows = [[f"**{split}**", *(_with_error(values, n) for n in names)] for split, values in overall.items()]
            lines += ["", f"Overall (`{path}`):", "", *_table(["split", *names], rows)]
        elif (slices := slice_metrics(data)) is not None:
            for split, columns in slices.items():
                for column, values in columns.items():
                    names = sorted({name for m in values.values() for name in m})
                    names = ["rows", *(n for n in names if n != "rows")] if "rows" in names else names
                    rows = [[f"{value}", *(_number(m.get(n, "")) for n in names)] for value, m in values.items()]
                    lines += ["", f"Per slice of `{column}`, {split} split (`{path}`):", ""]
                    lines += _table([column, *names], rows)
        else:
            lines += ["", f"`{path}`: not a metrics table this card knows how to show"]
    return lines


def render_model_card(
    lineage: Lineage,
    metrics: Mapping[str, Any],
    card: DataCard | None,
    data_name: str,
    trained_with: Mapping[str, Any],
    *,
    dropped_unlabelled: int | None = None,
) -> str:
    """The card as Markdown. `trained_with`: the parameters of the stage that made the model;
    `dropped_unlabelled`: the rows prepare left out for want of a label (`schema.label.missing: drop`)."""
    commit = lineage.commit or "none"
    if lineage.uncommitted:
        commit += f" (uncommitted changes: {', '.join(lineage.uncommitted)})"
    lines = [
        f"# Model card: {lineage.artifact}",
        "",
        "Written by `census-income lineage` from `dvc.lock`, `dvc.yaml` and `params.yaml`; "
        "regenerate it rather than editing it.",
        "",
        "## Model",
        "",
        f"- {lineage.description}" if lineage.description else "",
        f"- File: `{lineage.model}`, md5 `{lineage.model_md5}` (as `dvc.lock` records it; the pipeline and "
        "`census-income predict` load it only when the file has this md5)",
        f"- Git commit: `{commit}`",
        "- Workspace: " + ("in sync with `dvc.lock`" if not lineage.stale else "stale: " + "; ".join(lineage.stale)),
        "",
        "Parameters it was trained with (`dvc.lock`):",
        "",
        *_table(["parameter", "value"], [[f"`{k}`", f"`{param_text(v)}`"] for k, v in flatten(trained_with).items()]),
        "",
        "## Data",
        "",
        f"- Data set: {card.title if card else data_name} (`data={data_name}`)",
    ]
    if lineage.dataset:
        lines.append(f"- Prepared table: `{lineage.dataset}`, md5 `{lineage.dataset_md5}`")
    if dropped_unlabelled is not None:
        lines.append(f"- Rows without a label, left out by prepare: {dropped_unlabelled}")
    lines += ["", "Data version (the sources `dvc.lock` pins):", ""]
    lines += _table(
        ["part", "source", "hash"], [[s.part, f"`{s.uri}`", f"`{s.hash or 'not recorded'}`"] for s in lineage.sources]
    )
    if card and card.description:
        lines += ["", card.description]
    lines += ["", "## Metrics", *metrics_section(metrics), ""]
    missing = "Not documented: write `conf/datasets/<name>.card.yaml` beside the data set's description."
    lines += ["## Intended use", "", card.intended_use if card else missing, ""]
    lines += ["## Limitations", ""]
    lines += [f"- {item}" for item in card.limitations] if card and card.limitations else [missing]
    lines += ["", "## Data set license and attribution", ""]
    lines += [f"- License: {card.license}", f"- Attribution: {card.citation}"] if card else [missing]
    lines += ["", "## Environment", ""]
    if lineage.environment:
        rows = [["python", str(lineage.environment.get("python"))]]
        rows += [[name, version] for name, version in lineage.environment.get("packages", {}).items()]
        lines += [f"Recorded by the pipeline in `{lineage.environment_file}`:", ""]
        lines += _table(["package", "version"], rows)
    else:
        lines.append("Not recorded.")
    lines += ["", "## Lineage", "", "Stages upstream of the model, as `dvc.lock` records them:", ""]
    rows = [
        [f"`{s.name}`", str(len(s.deps)), str(len(s.params)), "<br>".join(f"`{o.path}` {o.hash}" for o in s.outs)]
        for s in lineage.stages
    ]
    lines += _table(["stage", "deps", "params", "outputs"], rows)
    lines += ["", "Full chain with every hash: `census-income lineage`."]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


def write_model_card(text: str, path: Path | str) -> None:
    """Write the card atomically (it is read by people and by CI)."""
    from census_income.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_card_for(lineage: Lineage, path: Path) -> None:
    """The model card of `lineage` from the workspace's records (params, the metrics `dvc.yaml`
    declares and the per-slice metrics beside them, prepare's gate summary), written to `path`."""
    import yaml

    from census_income.config import read_params
    from census_income.io import read_json

    params = read_params()
    declared_metrics = (yaml.safe_load(DVC_FILE.read_text(encoding="utf-8")) or {}).get("metrics") or []
    # the declared metrics, and the per-slice metrics evaluate writes beside them
    beside = [str(Path(p).with_name(SLICE_METRICS_NAME)) for p in declared_metrics]
    shown = [*declared_metrics, *(p for p in beside if Path(p).is_file())]
    metrics = {str(p): read_json(p) if Path(p).is_file() else None for p in shown}
    maker = next(stage for stage in reversed(lineage.stages) if any(o.path == lineage.model for o in stage.outs))
    prepared = GATE_SUMMARIES_DIR / "prepare.json"
    dropped = (read_json(prepared) if prepared.is_file() else {}).get("label-missing-dropped", {}).get("rows")
    text = render_model_card(
        lineage,
        metrics,
        data_card(params),
        str(params.get("data", {}).get("name", "")),
        maker.params,
        dropped_unlabelled=dropped,
    )
    write_model_card(text, path)
