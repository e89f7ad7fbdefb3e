"""Train/validation/test: the delivered split or a seeded stratified one."""

from __future__ import annotations

import pandas as pd

from census_income.data.config import SplitConfig
from census_income.data.prepare import PART
from census_income.errors import PipelineError

SPLITS = ("train", "validation", "test")


def split(table: pd.DataFrame, cfg: SplitConfig, label: str, seed: int) -> dict[str, pd.DataFrame]:
    """Partition the prepared table; validation is always held out of train, stratified.

    `official` keeps the delivered parts (`part == "train"` / `"test"`), so results
    compare with published figures; `stratified` draws test from all rows.
    """
    # imported here: ingest and prepare import this module (through the engines) but never split,
    # and scikit-learn is 0.85 s of their start-up
    from sklearn.model_selection import train_test_split

    if cfg.method == "official":
        parts = set(table[PART].astype(str).unique())
        if parts != {"train", "test"}:
            raise PipelineError(f"split.method=official needs a train and a test source, got parts {sorted(parts)}")
        train = table[table[PART] == "train"]
        test = table[table[PART] == "test"]
    else:
        train, test = train_test_split(table, test_size=cfg.test_size, stratify=table[label], random_state=seed)
    train, validation = train_test_split(train, test_size=cfg.validation_size, stratify=train[label], random_state=seed)
    return {
        name: part.sort_values("row_id").reset_index(drop=True)
        for name, part in zip(SPLITS, (train, validation, test), strict=True)
    }
