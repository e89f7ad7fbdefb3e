"""split: official parts or a seeded stratified draw; validation always held out of train."""

from __future__ import annotations

import pandas as pd
import pytest

from census_income.data.config import SplitConfig
from census_income.data.prepare import PART, ROW_ID, prepare
from census_income.data.spec import Schema, SourceFormat
from census_income.data.split import SPLITS, split
from census_income.errors import PipelineError

OFFICIAL = SplitConfig(method="official", validation_size=0.25)
STRATIFIED = SplitConfig(method="stratified", test_size=0.25, validation_size=0.25)


def ids(frame: pd.DataFrame) -> set[int]:
    return set(frame[ROW_ID].tolist())


@pytest.mark.parametrize("cfg", [OFFICIAL, STRATIFIED], ids=["official", "stratified"])
def test_every_row_in_exactly_one_split(prepared: pd.DataFrame, schema: Schema, cfg: SplitConfig) -> None:
    parts = split(prepared, cfg, schema.target, seed=7)
    assert tuple(parts) == SPLITS
    assert all(len(part) > 0 for part in parts.values())
    train, validation, test = (ids(parts[name]) for name in SPLITS)
    assert not train & validation and not train & test and not validation & test
    assert train | validation | test == ids(prepared)
    assert sum(len(part) for part in parts.values()) == len(prepared)


def test_official_keeps_the_delivered_parts(prepared: pd.DataFrame, schema: Schema) -> None:
    parts = split(prepared, OFFICIAL, schema.target, seed=7)
    assert ids(parts["test"]) == ids(prepared[prepared[PART] == "test"])
    for name in ("train", "validation"):
        assert set(parts[name][PART].astype(str)) == {"train"}
    assert len(parts["validation"]) == round(0.25 * (prepared[PART] == "train").sum())


def test_stratified_draws_test_from_all_parts_with_the_label_rate(prepared: pd.DataFrame, schema: Schema) -> None:
    parts = split(prepared, STRATIFIED, schema.target, seed=7)
    assert set(parts["test"][PART].astype(str)) == {"train", "test"}
    assert len(parts["test"]) == round(0.25 * len(prepared))
    rate = prepared[schema.target].mean()
    for name in SPLITS:
        assert abs(parts[name][schema.target].mean() - rate) < 0.05, name


@pytest.mark.parametrize("cfg", [OFFICIAL, STRATIFIED], ids=["official", "stratified"])
def test_validation_is_stratified(prepared: pd.DataFrame, schema: Schema, cfg: SplitConfig) -> None:
    parts = split(prepared, cfg, schema.target, seed=7)
    held_from = pd.concat([parts["train"], parts["validation"]])
    rate = held_from[schema.target].mean()
    # stratification puts the label rate of validation within one row of train's
    assert abs(parts["validation"][schema.target].mean() - rate) <= 1 / len(parts["validation"])


@pytest.mark.parametrize("cfg", [OFFICIAL, STRATIFIED], ids=["official", "stratified"])
def test_same_seed_same_split_other_seed_other_split(prepared: pd.DataFrame, schema: Schema, cfg: SplitConfig) -> None:
    first = split(prepared, cfg, schema.target, seed=3)
    again = split(prepared, cfg, schema.target, seed=3)
    for name in SPLITS:
        pd.testing.assert_frame_equal(first[name], again[name])
    other = split(prepared, cfg, schema.target, seed=4)
    assert ids(other["validation"]) != ids(first["validation"])


def test_splits_are_sorted_by_row_id_with_a_fresh_index(prepared: pd.DataFrame, schema: Schema) -> None:
    for part in split(prepared, STRATIFIED, schema.target, seed=1).values():
        assert part[ROW_ID].is_monotonic_increasing
        assert part.index.tolist() == list(range(len(part)))


def test_input_is_not_changed(prepared: pd.DataFrame, schema: Schema) -> None:
    before = prepared.copy(deep=True)
    split(prepared, STRATIFIED, schema.target, seed=1)
    pd.testing.assert_frame_equal(prepared, before)


def test_official_with_only_a_train_part_is_a_clear_error(
    raw_parts: dict[str, pd.DataFrame], fmt: SourceFormat, schema: Schema
) -> None:
    only_train = prepare({"train": raw_parts["train"]}, fmt, schema)
    with pytest.raises(PipelineError, match=r"split\.method=official needs a train and a test source.*\['train'\]"):
        split(only_train, OFFICIAL, schema.target, seed=0)
    # the stratified split is the option for such data
    assert len(split(only_train, STRATIFIED, schema.target, seed=0)["test"]) == 20
