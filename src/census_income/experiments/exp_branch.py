"""`census-income exp-branch`: an experiment becomes a git branch that CI accepts.

`dvc exp branch` alone gives a branch whose `params.yaml` holds the experiment's values while
`conf/` still composes the baseline's, so `check-lock` (CI's first step) rejects it. This
command also writes the experiment's overrides into `conf/` as a preset
(`conf/experiment/<name>.yaml`, selected in `conf/config.yaml`), recomposes `params.yaml` and
commits it all with the experiment's `dvc.lock` as one commit on the experiment's baseline, so
that `conf/` stays the one source of truth on every commit. Everything is derived and checked in a
temporary copy of the branch's `conf/` before the workspace is touched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from census_income.compose import compose_params
from census_income.errors import PipelineError
from census_income.experiments.queue import Dvc
from census_income.experiments.table import rank
from census_income.modeling.metrics import RANK_METRIC
from census_income.paths import CONF_DIR, LOCK_FILE, PARAMS_FILE
from census_income.repo.git import commit_of, git, text_at, uncommitted, yaml_at
from census_income.repo.lock import flatten

PRESET_GROUP = "experiment"
# written by `dvc exp run` and by `dvc repro`: replaced by the experiment's, never worth keeping
GENERATED = (PARAMS_FILE.as_posix(), LOCK_FILE.as_posix())
_EXPERIMENT_ENTRY = re.compile(rf"^([ \t]*-[ \t]*){PRESET_GROUP}:[ \t]*\S+[ \t]*$", re.MULTILINE)
_SELF_ENTRY = re.compile(r"^([ \t]*)-[ \t]*_self_[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Preset:
    """What an experiment changed against `conf/`: group options chosen and leaf values set."""

    groups: dict[str, str]  # group -> option, e.g. {"model": "random_forest"}
    values: dict[str, Any]  # dotted key -> value

    def overrides(self) -> list[str]:
        """The same change as Hydra overrides (what `dvc exp run -S` takes)."""
        return [f"{g}={o}" for g, o in self.groups.items()] + [f"{k}={_yaml_value(v)}" for k, v in self.values.items()]


# ------------------------------------------------------------------ pure parts
def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def leaf_changes(base: Mapping[str, Any], target: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Dotted keys whose value `target` sets differently from `base` (or adds), and keys it lacks."""
    old, new = flatten(base), flatten(target)
    changed = {key: value for key, value in new.items() if key not in old or old[key] != value}
    return changed, sorted(key for key in old if key not in new and not _under(key, new))


def _under(key: str, flat: Mapping[str, Any]) -> bool:
    """`key` is inside a value `flat` holds whole (an empty mapping replaced by a filled one, ...)."""
    return any(key.startswith(f"{other}.") for other in flat)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` -> `{"a": {"b": 1}}`."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def preset_text(preset: Preset, origin: str) -> str:
    """The preset file: global package, group overrides in its defaults, then the values."""
    lines = ["# @package _global_", f"# {origin}", "# Written by `census-income exp-branch`: edit it like any preset."]
    body: dict[str, Any] = {}
    if preset.groups:
        body["defaults"] = [*({f"override /{g}": o} for g, o in preset.groups.items()), "_self_"]
    body.update(nest(preset.values))
    return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def select_preset(config_text: str, name: str) -> str:
    """`conf/config.yaml` with `experiment: <name>` in its defaults, last, so the preset wins.

    An existing `experiment:` entry is replaced (a preset is complete on its own); otherwise the
    entry goes right after `_self_`, so it also overrides the primary config's own keys.
    """
    if _EXPERIMENT_ENTRY.search(config_text):
        return _EXPERIMENT_ENTRY.sub(lambda m: f"{m.group(1)}{PRESET_GROUP}: {name}", config_text, count=1)
    match = _SELF_ENTRY.search(config_text)
    if match is None:
        raise PipelineError(f"{CONF_DIR / 'config.yaml'}: no `- _self_` entry in its defaults list")
    entry = f"\n{match.group(1)}- {PRESET_GROUP}: {name}"
    return config_text[: match.end()] + entry + config_text[match.end() :]


def preset_name(text: str) -> str:
    """A file name for a preset from an experiment or branch name (`feature/lr 0.1` -> `feature-lr-0.1`)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    if not name:
        raise PipelineError(f"cannot name a preset after {text!r}: give one with --preset")
    return name


# ------------------------------------------------------------------ composition (DVC's own Hydra)
def compose(conf_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The composition of `conf_dir` with Hydra overrides, as `dvc exp run` writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / PARAMS_FILE.name
        compose_params(out, conf_dir, list(overrides))
        loaded: dict[str, Any] = yaml.safe_load(out.read_text(encoding="utf-8")) or {}
    return loaded


def _options(conf_dir: Path) -> dict[str, list[str]]:
    """Config groups (folders of `conf_dir`, presets aside) and their options."""
    return {
        group.name: sorted(p.stem for p in group.glob("*.yaml"))
        for group in sorted(conf_dir.iterdir())
        if group.is_dir() and group.name != PRESET_GROUP
    }


def _distance(a: Any, b: Any) -> int:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        changed, missing = leaf_changes(a, b)
        return len(changed) + len(missing)
    return 0 if a == b else 1


def derive_preset(conf_dir: Path, target: Mapping[str, Any]) -> Preset:
    """The group options and values that turn the composition of `conf_dir` into `target`.

    Each group whose section differs is set to the option closest to `target`; what still
    differs becomes values. A key `target` lacks cannot be expressed in a preset: error.
    """
    base_overrides = [f"~{PRESET_GROUP}"] if (conf_dir / PRESET_GROUP).is_dir() and _selects_preset(conf_dir) else []
    base = compose(conf_dir, base_overrides)
    groups: dict[str, str] = {}
    for group, options in _options(conf_dir).items():
        current = _distance(base.get(group), target.get(group))
        if group not in target or current == 0:
            continue
        distances = {
            o: _distance(compose(conf_dir, [*base_overrides, f"{group}={o}"]).get(group), target[group])
            for o in options
        }
        best = min(options, key=lambda o: distances[o])
        if distances[best] < current:
            groups[group] = best
    chosen = compose(conf_dir, [*base_overrides, *(f"{g}={o}" for g, o in groups.items())])
    values, missing = leaf_changes(chosen, target)
    unknown = [
        f"{group}={target[group]['name']}"
        for group, options in _options(conf_dir).items()
        if isinstance(target.get(group), Mapping) and target[group].get("name") not in (None, *options)
    ]
    if missing and unknown:  # the usual cause: a new option's file, never committed
        raise PipelineError(
            f"the experiment used {', '.join(unknown)}, which is no file of conf/ at its commit: "
            "commit the file, run the experiment again, then exp-branch"
        )
    if missing:
        raise PipelineError(
            f"the experiment's params.yaml lacks {', '.join(missing)}: a preset in conf/ cannot remove keys"
        )
    return Preset(groups, values)


def _selects_preset(conf_dir: Path) -> bool:
    return bool(_EXPERIMENT_ENTRY.search((conf_dir / "config.yaml").read_text(encoding="utf-8")))


# ------------------------------------------------------------------ thin layer: git and DVC
HERE = Path()  # the project root: the command runs there, as DVC does


def best_experiment(dvc: Dvc, key: str = RANK_METRIC) -> str:
    """The successful experiment of the current commit that ranks first on `key` (validation)."""
    found = dvc.experiments()
    if found is None:
        raise PipelineError("`dvc exp show` failed: cannot list the experiments")
    ranked = [exp for exp in rank([e for e in found if e.state == "success"], key) if exp.metric(key) is not None]
    if not ranked:
        raise PipelineError(f"no successful experiment of this commit has {key}: run some (`census-income sweep`)")
    return ranked[0].name


def blocking_changes() -> list[str]:
    """Uncommitted changes to tracked files, apart from the generated params.yaml and dvc.lock."""
    return [path for path in uncommitted(HERE) if path not in GENERATED]


def _conf_at(rev: str, dest: Path) -> Path:
    """`conf/` as committed at `rev`, extracted under `dest`."""
    for name in git(HERE, "ls-tree", "-r", "--name-only", rev, "--", CONF_DIR.as_posix()).splitlines():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text_at(HERE, rev, name), encoding="utf-8")
    return dest / CONF_DIR


def prepare_conf(rev: str, experiment: str, name: str, tmp: Path) -> tuple[Preset, str, str]:
    """Preset `name` and `config.yaml` texts that compose `rev`'s params.yaml, checked on a copy of its conf/."""
    target = yaml_at(HERE, rev, PARAMS_FILE)
    conf = _conf_at(rev, tmp)
    if (conf / PRESET_GROUP / f"{name}.yaml").exists():
        raise PipelineError(f"{CONF_DIR / PRESET_GROUP / name}.yaml exists already: name the preset with --preset")
    preset = derive_preset(conf, target)
    text = preset_text(preset, f"experiment {experiment} ({rev[:7]}): " + (" ".join(preset.overrides()) or "no change"))
    config = select_preset((conf / "config.yaml").read_text(encoding="utf-8"), name)
    (conf / PRESET_GROUP).mkdir(exist_ok=True)
    (conf / PRESET_GROUP / f"{name}.yaml").write_text(text, encoding="utf-8")
    (conf / "config.yaml").write_text(config, encoding="utf-8")
    composed = compose(conf)
    if composed != target:
        changed, missing = leaf_changes(composed, target)
        raise PipelineError(f"the preset does not compose the experiment's params.yaml: {sorted(changed) + missing}")
    return preset, text, config


def exp_branch(branch: str, experiment: str | None = None, preset: str | None = None) -> str:
    """Branch `experiment` (default: the best on validation) with its overrides in conf/; commit; a summary."""
    if changes := blocking_changes():
        raise PipelineError(f"uncommitted changes in {', '.join(changes)}: commit or stash them first")
    dvc = Dvc(Path(), dict(os.environ))
    name = experiment or best_experiment(dvc)
    made = dvc("exp", "branch", name, branch)
    if made.returncode != 0:
        raise PipelineError(
            f"dvc exp branch {name} {branch}: {((made.stderr or made.stdout).strip() or 'failed').splitlines()[-1]}"
        )
    rev = commit_of(HERE, branch)
    file_name = preset_name(preset or branch)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            found, text, config = prepare_conf(rev, name, file_name, Path(tmp))
    except PipelineError:
        git(HERE, "branch", "-D", branch)  # no half-made branch left behind
        raise
    git(HERE, "checkout", "-q", "HEAD", "--", *GENERATED)
    git(HERE, "checkout", "-q", branch)
    git(HERE, "reset", "-q", "--soft", "HEAD~1")  # one commit on the baseline, so every commit passes check-lock
    preset_file = CONF_DIR / PRESET_GROUP / f"{file_name}.yaml"
    preset_file.parent.mkdir(parents=True, exist_ok=True)
    preset_file.write_text(text, encoding="utf-8")
    (CONF_DIR / "config.yaml").write_text(config, encoding="utf-8")
    compose_params()
    git(HERE, "add", "--", preset_file.as_posix(), (CONF_DIR / "config.yaml").as_posix(), PARAMS_FILE.as_posix())
    overrides = " ".join(found.overrides()) or "no parameter change"
    git(HERE, "commit", "-q", "-m", f"Experiment {name} ({rev[:7]}) as {preset_file}: {overrides}")
    restored = dvc("checkout", "--quiet")
    lines = [
        f"branch {branch}: experiment {name} ({rev[:7]}), {overrides}",
        f"conf/: {preset_file} selected in {CONF_DIR / 'config.yaml'}; params.yaml recomposed; committed",
    ]
    if restored.returncode != 0:
        lines.append(f"warning: dvc checkout: {(restored.stderr or restored.stdout).strip()[-300:]}")
    lines.append(f"next: git push -u origin {branch}")
    return "\n".join(lines)
