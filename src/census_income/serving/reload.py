"""What the server serves, and following the registry without a restart.

A `Deployment` is the primary version, an optional canary (with its share of request keys)
and an optional shadow, each loaded and verified as the registry verifies a version (its
bytes against its commit's dvc.lock, its quality gate at that commit, its tag made by
`register`). The `Follower` holds the current deployment; a request takes it once and keeps
it to the end, so a swap (one attribute assignment) never changes the model under a request
in flight. On SIGHUP, or when the registry's tags change (polled), it resolves the specs
again, loads what changed and swaps; a version that fails verification is not loaded, the
old deployment keeps serving, and the refusal is logged and counted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from census_income.contracts.rows import Failure, RowChecks
from census_income.errors import InputError, PipelineError, RequestError
from census_income.repo.lineage import recorded_md5
from census_income.serving.compiled import compiled_model
from census_income.serving.metrics import Metrics
from census_income.serving.registry import DVC_FILE, ModelRef, declared, git, resolve, versions, yaml_at
from census_income.serving.scorer import Scorer, input_checks, load_ref, training_rows
from census_income.serving.scoring import DriftWindow, feature_bins

log = logging.getLogger("census_income")
ROLES = ("primary", "canary", "shadow")


class RowGate:
    """A version's input contract, compiled once per suite, refusing any row that fails it."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, ...], RowChecks] = {}
        self._lock = threading.Lock()

    def compile(self, suite: str, build: Any, *config: Any) -> RowChecks:
        """A suite compiled once: a version's config objects live as long as it does, their ids key it."""
        key = (suite, *(c if isinstance(c, frozenset) else id(c) for c in config))
        checks = self._compiled.get(key)
        if checks is None:
            with self._lock:
                checks = self._compiled.setdefault(key, RowChecks(build(*config)))
        return checks

    def keep(self, suite: str, frame: Any, build: Any, *config: Any) -> list[Failure]:
        """The `score_rows` gate of a request: the rows that fail, or a 422 `RequestError` when the
        columns are not the contract's (no row can be blamed)."""
        failures, whole = self.compile(suite, build, *config).failures(frame)
        if whole:
            raise RequestError(f"the rows do not have the data set's columns ({', '.join(whole)}); nothing scored", 422)
        return failures


@dataclass(frozen=True)
class Served:
    """A verified version, ready: its model and config, its compiled gate, its drift window."""

    scorer: Scorer
    gate: RowGate
    window: DriftWindow

    @property
    def version(self) -> str:
        return self.scorer.ref.label


@dataclass(frozen=True)
class Specs:
    """What to serve, as given on the command line (versions, stages or the model file)."""

    model: str
    canary: str | None = None
    canary_share: float = 0.0
    shadow: str | None = None


@dataclass(frozen=True)
class Deployment:
    primary: Served
    canary: Served | None
    canary_share: float
    shadow: Served | None
    tags: str  # fingerprint of the registry's tags it was resolved from

    def route(self, key: str | None) -> tuple[Served, str]:
        """The version that answers a request key, and its role: one key always gets one version."""
        if self.canary is not None and key is not None and bucket(key) < self.canary_share:
            return self.canary, "canary"
        return self.primary, "primary"

    def roles(self) -> dict[str, Served]:
        served = {"primary": self.primary, "canary": self.canary, "shadow": self.shadow}
        return {role: s for role, s in served.items() if s is not None}


def bucket(key: str) -> float:
    """A request key's place in [0, 1): the first 8 bytes of its SHA-256, stable across processes."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def tags_fingerprint(root: Path) -> str:
    """What changes whenever a version is registered or a stage moves: the tags and their objects."""
    listed = git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags")
    return hashlib.md5(listed.encode("utf-8")).hexdigest()


class Follower:
    """The current deployment, and its replacement when the registry moves (see the module)."""

    def __init__(self, root: Path, specs: Specs, metrics: Metrics, drift_rows: int) -> None:
        self.root = root
        self.specs = specs
        self.metrics = metrics
        self.drift_rows = drift_rows
        self.refused: str | None = None  # the fingerprint whose deployment failed verification
        self._loaded: dict[tuple[str | None, str, str], Served] = {}
        self._lock = threading.Lock()
        self.current = self._deploy(tags_fingerprint(root))
        self._publish()
        log.info("serve: %s", self.describe())

    def describe(self) -> str:
        """`primary v1.1.0 (prod, commit 1a2b3c4), canary v1.0.0 (...)`: what is served."""
        return ", ".join(f"{role} {s.scorer.ref.describe()}" for role, s in self.current.roles().items())

    def changed(self) -> bool:
        """Whether the tags moved since the deployment (or the last refusal) was resolved."""
        now = tags_fingerprint(self.root)
        return now not in (self.current.tags, self.refused)

    def refresh(self, why: str) -> bool:
        """Resolve the specs again and swap in what changed; False when nothing did or it was refused."""
        with self._lock:
            tags = tags_fingerprint(self.root)
            try:
                new = self._deploy(tags)
            except PipelineError as exc:
                self.refused = tags
                self.metrics.reloads.labels("refused").inc()
                log.error("serve: reload (%s) refused, still serving %s: %s", why, self.current.primary.version, exc)
                return False
            before = {role: s.scorer.ref for role, s in self.current.roles().items()}
            after = {role: s.scorer.ref for role, s in new.roles().items()}
            self.current, self.refused = new, None
            if before == after:
                return False
            self.metrics.reloads.labels("loaded").inc()
            self._publish()
            log.info("serve: reload (%s): %s", why, self.describe())
            return True

    def _deploy(self, tags: str) -> Deployment:
        specs = self.specs
        primary = self._load(specs.model)
        canary = self._load(specs.canary) if specs.canary else None
        shadow = self._load(specs.shadow) if specs.shadow else None
        features = primary.scorer.cfg.schema_.features
        for option, other in (("--canary", canary), ("--shadow", shadow)):
            if other is not None and other.scorer.cfg.schema_.features != features:
                raise InputError(f"{option} {other.version}: its model reads other columns than {primary.version}")
        # versions no role uses any more are let go (a request still holding one keeps it alive)
        used = {self._key(s.scorer.ref) for s in (primary, canary, shadow) if s is not None}
        self._loaded = {key: s for key, s in self._loaded.items() if key in used}
        return Deployment(primary, canary, specs.canary_share, shadow, tags)

    @staticmethod
    def _key(ref: ModelRef) -> tuple[str | None, str, str]:
        return (ref.commit, ref.path, ref.label)

    def _load(self, spec: str) -> Served:
        """A version by its spec: the one already loaded when the spec still names it."""
        ref = resolve(spec, self.root)
        key = self._key(ref)
        if key not in self._loaded:
            scorer = load_ref(ref, self.root)
            compiled_model(scorer.model)  # its numpy featurizer built and checked now, not on a request
            schema = scorer.cfg.schema_
            bins = feature_bins(training_rows(scorer, self.root), schema.categorical, schema.numeric)
            gate = RowGate()
            for suite, build, config in input_checks(scorer.cfg, frozenset()):  # text input: what requests send
                gate.compile(suite, build, *config)
            self._loaded[key] = Served(scorer, gate, DriftWindow(bins, self.drift_rows))
        loaded = self._loaded[key]
        # the same version under a spec that now names it as a stage (or no longer): keep the model, new ref
        if loaded.scorer.ref != ref:
            loaded = Served(replace(loaded.scorer, ref=ref), loaded.gate, loaded.window)
        return loaded

    def _publish(self) -> None:
        self.metrics.model.clear()
        for role, served in self.current.roles().items():
            self.metrics.model.labels(role, served.version, served.scorer.ref.commit or "workspace").set(1)


def describe_version(served: Served, root: Path) -> dict[str, Any]:
    """What `/version` says of a served version: its ref, model and data md5, registry stages."""
    from census_income.paths import LOCK_FILE

    ref = served.scorer.ref
    data_md5 = None
    if ref.commit is not None:
        data_path = declared(yaml_at(root, ref.commit, DVC_FILE)).data_path
        if data_path:
            data_md5 = recorded_md5(data_path, yaml_at(root, ref.commit, LOCK_FILE))
    stages = [list(v.stages) for v in versions(root) if v.version == ref.version]
    return {
        "version": served.version,
        "spec": ref.spec,
        "commit": ref.commit,
        "model_md5": served.scorer.md5,
        "data_md5": data_md5,
        "stages": stages[0] if stages else [],
    }
