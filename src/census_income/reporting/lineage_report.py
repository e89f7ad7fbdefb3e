"""`census-income lineage`: the chain from the current model back to its data, from `dvc.lock`.

It names the model file and the md5 `dvc.lock` records for it (and refuses a file that does
not match), the git commit, every data source with its hash, every stage upstream of the
model with the hashes of its dependencies, its parameters and the hashes of its outputs, and
the Python and package versions the `environment` stage recorded (beside the installed ones).
`dvc.lock` is the single record read: nothing here re-hashes data or reruns a stage.
"""

from __future__ import annotations

from pathlib import Path

from census_income.errors import GitError, PipelineError
from census_income.paths import LOCK_FILE, PARAMS_FILE
from census_income.repo.artifacts import DVC_FILE, declared
from census_income.repo.git import head, uncommitted
from census_income.repo.lineage import recorded_md5
from census_income.repo.lock import read_lock
from census_income.reporting.lineage_trace import Lineage, defined_stages, environment_output, param_text, trace


def format_lineage(lineage: Lineage, card: Path | None = None) -> str:
    """The chain as aligned text: model, commit, sources, stages, environment."""
    lines = [
        f"model       {lineage.model}  md5 {lineage.model_md5}  "
        + ("(the file matches dvc.lock)" if lineage.model_present else "(not in the workspace: `dvc pull`)"),
        f"artifact    {lineage.artifact}: {lineage.description}".rstrip(": "),
    ]
    commit = lineage.commit or "none (not a git repository, or no commit yet)"
    if lineage.uncommitted:
        commit += f"  (uncommitted changes: {', '.join(lineage.uncommitted)})"
    lines.append(f"git commit  {commit}")
    if lineage.stale:
        lines.append("workspace   stale against dvc.lock:")
        lines += [f"              - {reason}" for reason in lineage.stale]
    else:
        lines.append("workspace   in sync with dvc.lock")
    if lineage.dataset:
        lines.append(f"data set    {lineage.dataset}  md5 {lineage.dataset_md5}")
    lines.append("sources")
    for source in lineage.sources:
        where = f"read by {', '.join(source.read_by)}" if source.read_by else "not in the model's chain in dvc.lock"
        made = f"; made by {', '.join(source.made_by)}" if source.made_by else ""
        lines.append(f"  {source.part:<9} {source.uri}  {source.hash or '(no hash recorded)'}  ({where}{made})")
    lines.append("stages (dvc.lock), upstream first")
    for stage in lineage.stages:
        lines.append(f"  {stage.name}")
        lines += [f"    dep    {dep.path}  {dep.hash}" for dep in stage.deps]
        lines += [f"    param  {key} = {param_text(value)}" for key, value in stage.params.items()]
        lines += [f"    out    {out.path}  {out.hash}" for out in stage.outs]
    lines += environment_lines(lineage)
    if card is not None:
        lines.append(f"model card  {card}")
    return "\n".join(lines)


def environment_lines(lineage: Lineage) -> list[str]:
    """Recorded versions, each with the installed one when they differ."""
    if lineage.environment is None:
        return ["environment not recorded (no environment stage upstream of the model in dvc.lock)"]
    lines = [f"environment (recorded in {lineage.environment_file}; installed now when different)"]
    recorded, now = lineage.environment, lineage.installed
    rows = [("python", recorded.get("python"), now.get("python"))]
    rows += [
        (name, version, now.get("packages", {}).get(name, "not installed"))
        for name, version in recorded.get("packages", {}).items()
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, version, installed in rows:
        note = "" if installed == version else f"  (installed now: {installed})"
        lines.append(f"  {name:<{width}}  {version}{note}")
    return lines


# ------------------------------------------------------------------ reading the project
def collect(check_status: bool = True) -> Lineage:
    """Read dvc.yaml, dvc.lock, params.yaml, git and the environment record of the working directory."""
    import yaml

    from census_income.config import read_params
    from census_income.io import md5_file, read_json
    from census_income.repo.dvc import Dvc
    from census_income.repo.environment import current_environment
    from census_income.repo.staleness import stale_stages

    try:
        dvc_yaml = yaml.safe_load(DVC_FILE.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PipelineError(f"{DVC_FILE}: not found (run this in the project's root)") from None
    artifacts = declared(dvc_yaml)
    lock = read_lock()
    if not lock.get("stages"):
        raise PipelineError("dvc.lock: no stages recorded (run `dvc repro`)")
    model = artifacts.model_path
    model_md5 = recorded_md5(model, lock)
    present = Path(model).is_file()
    if present and (actual := md5_file(model)) != model_md5:
        raise PipelineError(
            f"{model}: md5 {actual} does not match {model_md5} recorded in dvc.lock; "
            f"this file is not the model the lineage describes (run `dvc checkout {model}`)"
        )
    params = read_params()
    chain, sources = trace(lock, model, params.get("data", {}).get("source", {}), defined_stages(dvc_yaml, params))
    env_file = environment_output(chain)
    recorded = read_json(env_file) if env_file and Path(env_file).is_file() else None
    names = list((recorded or {}).get("packages", {}))
    try:
        commit: str | None = head(Path())
        changed = uncommitted(Path(), (DVC_FILE, LOCK_FILE, PARAMS_FILE))
    except GitError:  # not a git repository, or no commit yet: the lineage says so
        commit, changed = None, []
    return Lineage(
        artifact=artifacts.model,
        description=" ".join(str(dvc_yaml["artifacts"][artifacts.model].get("desc", "")).split()),
        model=model,
        model_md5=model_md5,
        model_present=present,
        commit=commit,
        uncommitted=tuple(changed),
        stale=tuple(stale_stages(Dvc().status(), lock)) if check_status else (),
        sources=tuple(sources),
        stages=tuple(chain),
        environment_file=env_file,
        environment=recorded,
        installed=current_environment(names),
        dataset=artifacts.data_path,
        dataset_md5=recorded_md5(artifacts.data_path, lock) if artifacts.data_path else None,
    )
