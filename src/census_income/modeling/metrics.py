"""The metrics vocabulary: which metrics exist, which way is better, and when a change is noise.

One place for what evaluate records, what the sweep ranks on, what `census-income exps` and the
pull-request report compare. A metric key is dotted: `<split>.<metric>`, its standard error
`<split>.<metric>_se` (evaluate's seeded bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

# what evaluate measures on each judged split (validation ranks, test reports), in table order
MODEL_METRICS = ("error_rate", "roc_auc", "average_precision", "f1", "log_loss", "brier")
# the train split's two figures, enough to see over-fitting; never judged
TRAIN_METRICS = ("error_rate", "roc_auc")
# the splits a comparison may judge: train metrics rise with over-fitting
JUDGED_SPLITS = ("validation", "test")
# the validation metrics whose standard errors evaluate records (the ones sweeps rank on)
VALIDATION_SE = ("error_rate", "roc_auc")
SE_SUFFIX = "_se"
LOWER_IS_BETTER = ("error_rate", "log_loss", "brier")
# counts, not quality: neither direction is better
NEUTRAL_METRICS = ("rows",)
RANK_METRIC = "validation.error_rate"
# the quality bar's verdict in metrics.json (1 passed, 0 below the bar)
QUALITY_KEY = "quality.passed"
# a difference is noise when it is within this many standard errors of the difference
NOISE_SIGMAS = 2.0

Verdict = Literal["better", "worse", "within noise", ""]


def metric_name(key: str) -> str:
    """`validation.error_rate` -> `error_rate` (the part that says what is measured)."""
    return key.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


def lower_is_better(key: str) -> bool:
    """Error rates, log loss and Brier score fall as models improve; AUCs, accuracy and F1 rise."""
    return metric_name(key) in LOWER_IS_BETTER


def direction(key: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 for counts."""
    name = metric_name(key)
    if name in NEUTRAL_METRICS:
        return 0
    return -1 if name in LOWER_IS_BETTER else 1


def is_judged(key: str) -> bool:
    """A model metric of a judged split (`test.roc_auc`), not its standard error, a train figure
    or a count."""
    parts = key.rsplit(":", maxsplit=1)[-1].split(".")
    return len(parts) == 2 and parts[0] in JUDGED_SPLITS and parts[1] in MODEL_METRICS


def se_key(key: str) -> str:
    """The key of a metric's standard error: `test.roc_auc` -> `test.roc_auc_se`."""
    return f"{key}{SE_SUFFIX}"


def noise_band(*standard_errors: float | None) -> float | None:
    """How far apart two independent estimates may lie by chance: `NOISE_SIGMAS` standard errors
    of their difference (about a 95% band). None when a standard error is unknown."""
    if not standard_errors or any(se is None or not math.isfinite(se) for se in standard_errors):
        return None
    return NOISE_SIGMAS * math.sqrt(sum(float(se) ** 2 for se in standard_errors if se is not None))


def verdict(key: str, before: Any, after: Any, band: float | None) -> Verdict:
    """`better`, `worse` or `within noise` for a judged metric's change; `` for anything else
    (unchanged, not numeric, not judged). Without a noise band no change is called either way."""
    if not is_judged(key) or not _number(before) or not _number(after) or before == after:
        return ""
    if band is None or abs(after - before) <= band:
        return "within noise"
    improved = (after < before) if lower_is_better(key) else (after > before)
    return "better" if improved else "worse"


def standard_error(flat: Mapping[str, Any], key: str) -> float | None:
    """The recorded standard error of `key` in a flat metrics mapping, or None."""
    value = flat.get(se_key(key))
    return float(value) if value is not None and _number(value) else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
