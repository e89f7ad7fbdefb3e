"""Great Expectations Data Docs (HTML) from the latest gate results: `make data-docs`.

Every gate keeps its full result as JSON (`paths.gate_results_dir()/<stage>/<suite>.json`,
git-ignored, outside DVC outputs). This renders them into a static Data Docs site without
validating anything again: an ephemeral context (nothing scaffolded on disk) receives the
stored results and the suites they ran, and builds its one site into a temporary folder
that replaces `paths.data_docs_dir()` only when complete, so the site always shows exactly
the latest results, never a mix with older runs.

    python -m census_income.contracts.docs [--results logs/gates] [--out logs/data-docs]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError
from census_income.io import atomic_path
from census_income.paths import data_docs_dir, gate_results_dir

SITE = "local_site"


def stored_results(results_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """`(stage, result)` for every kept result, in a stable order."""
    found = []
    for path in sorted(results_dir.glob("*/*.json")):
        try:
            found.append((path.parent.name, json.loads(path.read_text(encoding="utf-8"))))
        except json.JSONDecodeError as exc:
            raise PipelineError(f"{path}: not a gate result: {exc}") from None
    return found


def build_data_docs(results_dir: Path, site_dir: Path) -> Path:
    """Render every result under `results_dir` into a Data Docs site at `site_dir`; return its index.html."""
    results = stored_results(results_dir)
    if not results:
        raise PipelineError(f"{results_dir}: no gate results yet (run `dvc repro` first)")
    with atomic_path(site_dir) as staged:
        staged.mkdir()
        _render(results, staged)
    return site_dir / "index.html"


def _render(results: list[tuple[str, dict[str, Any]]], site: Path) -> None:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    config: Any = {  # GX's TypedDict does not list `show_how_to_buttons`, its SiteBuilder takes it
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site.resolve())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    context.update_data_docs_site(SITE, config)
    store: Any = context.validation_results_store
    for stage, payload in results:
        suite_name = payload["suite_name"]
        # the suite as it ran (the stored result holds each expectation's configuration)
        configurations = [
            ExpectationConfiguration(**{k: v for k, v in r["expectation_config"].items() if k in ("type", "kwargs")})
            for r in payload["results"]
        ]
        context.suites.add_or_update(
            gx.ExpectationSuite(name=suite_name, expectations=[c.to_domain_obj() for c in configurations])
        )
        meta = payload.get("meta", {})
        run_id = RunIdentifier(run_name=stage, run_time=meta.get("run_id", {}).get("run_time"))
        suite_id = ExpectationSuiteIdentifier(name=suite_name)
        key = ValidationResultIdentifier(suite_id, run_id, suite_name.replace(".", "-"))
        store.set(key, store.deserialize({**payload, "meta": {**meta, "run_id": run_id.to_json_dict()}}))
    context.build_data_docs(site_names=[SITE])


def main(argv: Sequence[str] | None = None) -> int:
    """`make data-docs`: build the site and print where its index is."""
    parser = argparse.ArgumentParser(prog="python -m census_income.contracts.docs", description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=gate_results_dir(), help="kept gate results")
    parser.add_argument("--out", type=Path, default=data_docs_dir(), help="where the site goes")
    args = parser.parse_args(argv)
    try:
        index = build_data_docs(args.results, args.out)
    except PipelineError as exc:
        sys.stderr.write(f"docs: {exc}\n")
        return 1
    sys.stdout.write(f"Data Docs: {index.resolve().as_uri()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
