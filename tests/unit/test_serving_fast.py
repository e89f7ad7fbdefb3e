"""The few-row path without frames (`serving.fast`) answers exactly what the frame path answers,
or steps aside: same verdicts, same prepared rows, the same probabilities to the bit."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from census_income.contracts.rows import RowChecks
from census_income.contracts.suites import input_prepared_suite, input_suite
from census_income.data.prepare import prepare_features
from census_income.errors import RequestError
from census_income.serving.batching import Batcher, share
from census_income.serving.bodies import TextRows, parse_body
from census_income.serving.fast import fast_scored
from census_income.serving.metrics import Metrics
from census_income.serving.reload import RowGate
from census_income.serving.scorer import score_rows
from census_income.serving.scoring import feature_bins
from census_income.serving.shadowing import Shadowing, shadow_scores
from census_income.serving.small import Prepared, score_small
from tests.unit.conftest import CONTRACT, FORMAT, SCHEMA
from tests.unit.test_serving_compiled import SHAPES, fitted_pipeline
from tests.unit.test_serving_small import SCHEMAS

LABEL = "income"
# hostile values per raw column: whitespace, the missing marker, unknown categories, numbers
# out of range, too long for float64, signed zero, fractions, exponents, other whitespace
HOSTILE: dict[str, list[Any]] = {
    "age": [" 39 ", "007", "-0", "0", "16", "91", "90", "4.5", "1e3", "12345678901234567890", "lots", "?", "", 17],
    "workclass": [
        "  Private\t",
        "?",
        "",
        "Astronaut",
        "\u00a0Private",
        "Private\u2003",
        "private",
        None,
        "\x1fPrivate",
    ],
    "capital-gain": ["?", "", "0", "-0", "-0.0", "+5", "99999", "100000", "3.25", 1e308, -1, 2174, "1" * 16, None],
    "native-country": ["Mexico", " Canada ", "Atlantis", "?", "1", 1, "United-States\n", None],
}


def scorer(schema_name: str, pipeline: Pipeline) -> Any:
    cfg = SimpleNamespace(
        format=FORMAT, schema_=SCHEMAS[schema_name], contract=CONTRACT, evaluate=SimpleNamespace(threshold=0.5)
    )
    return SimpleNamespace(cfg=cfg, model=pipeline)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fitted_pipeline(*SHAPES["onehot+hgb"])


def records(rows: int, seed: int, hostile: float) -> list[dict[str, Any]]:
    """JSON records of the data set's fields; each value hostile with probability `hostile`."""
    rng = np.random.default_rng(seed)
    good = {
        "age": lambda: int(rng.integers(17, 91)),
        "workclass": lambda: str(rng.choice(["Private", "State-gov", "Self-emp-inc"])),
        "capital-gain": lambda: int(rng.choice([0, 0, 2174, 15024, 99999])),
        "native-country": lambda: str(rng.choice(["United-States", "Mexico", "Canada"])),
    }
    return [
        {
            name: HOSTILE[name][int(rng.integers(len(HOSTILE[name])))] if rng.random() < hostile else make()
            for name, make in good.items()
        }
        for _ in range(rows)
    ]


def both_paths(scorer: Any, body: list[dict[str, Any]]) -> tuple[Any, Any]:
    """The frame path's answer (a `Scored`, or the `RequestError` it raises) and the fast path's."""
    rows = parse_body(json.dumps(body).encode(), "application/json", FORMAT, LABEL, 1000)
    assert isinstance(rows.table, TextRows)
    try:
        frame: Any = score_rows(scorer, rows.frame, RowGate().keep, score_small)
    except RequestError as refused:
        frame = refused
    return frame, fast_scored(scorer, RowGate(), rows.table.values)


@pytest.mark.filterwarnings("ignore:Found unknown categories")
@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
def test_the_fast_path_answers_as_the_frame_path_or_steps_aside(schema_name: str, pipeline: Pipeline) -> None:
    model = scorer(schema_name, pipeline)
    train = pd.DataFrame({"workclass": ["Private", "State-gov", None], "native_country": ["Mexico"] * 3})
    bins = feature_bins(train.assign(age=[20, 40, 60], capital_gain=[0, 0, 5000]), SCHEMA.categorical, SCHEMA.numeric)
    answered = stepped_aside = 0
    for seed in range(120):
        size = [1, 1, 2, 8, 33][seed % 5]
        body = records(size, seed, hostile=0.0 if seed % 3 == 0 else 0.15)
        frame, fast = both_paths(model, body)
        if fast is None:
            stepped_aside += 1
            assert seed % 3, f"seed {seed}: clean rows must take the fast path"
            continue
        answered += 1
        assert not isinstance(frame, RequestError) and frame.failures == [], f"seed {seed}: a refused row passed"
        assert isinstance(fast.prepared, Prepared)
        pd.testing.assert_frame_equal(fast.prepared.frame(), frame.prepared, check_exact=True, check_categorical=True)
        assert fast.scores.tobytes() == frame.scores.tobytes(), f"seed {seed}: probabilities differ"
        assert fast.labels.tobytes() == frame.labels.tobytes()
        # what the batcher and the drift window read of it: a request's share, the bins' counts
        start, end = len(body) // 3, len(body) - len(body) // 3
        mine, theirs = share(fast, start, end), share(frame, start, end)
        assert isinstance(mine.prepared, Prepared)
        # the same values; a share of a frame keeps the categories of the whole pass, its own do not
        pd.testing.assert_frame_equal(mine.prepared.frame().astype(object), theirs.prepared.astype(object))
        assert mine.scores.tobytes() == theirs.scores.tobytes()
        for b in bins:
            np.testing.assert_array_equal(b.counts(fast.prepared[b.name]), b.counts(frame.prepared[b.name]))
    assert answered >= 40 and stepped_aside >= 20  # both branches were exercised


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
def test_every_hostile_value_alone_gets_the_frame_paths_verdict(schema_name: str, pipeline: Pipeline) -> None:
    model = scorer(schema_name, pipeline)
    base = {"age": 39, "workclass": "Private", "capital-gain": 0, "native-country": "Mexico"}
    for name, values in HOSTILE.items():
        for value in values:
            frame, fast = both_paths(model, [base, {**base, name: value}])
            refused = isinstance(frame, RequestError) or bool(frame.failures)
            assert fast is None or not refused, f"{name}={value!r}: the frame path refuses it, the fast path did not"
            if fast is not None:
                assert fast.scores.tobytes() == frame.scores.tobytes(), f"{name}={value!r}"


def test_plain_values_are_checked_as_the_frame_is() -> None:
    raw = pd.DataFrame(
        {"age": ["39", "4.5", "16"], "workclass": ["Astronaut", "?", "Private"]}
        | {"capital-gain": ["0", "lots", "5"], "native-country": ["?", "Mexico", "Atlantis"]},
        dtype=str,
    )
    checks = RowChecks(input_suite(FORMAT, SCHEMAS["int64"], CONTRACT))
    dtypes = {column: str(dtype) for column, dtype in raw.dtypes.items()}
    expected = checks.failures(raw)
    assert expected[0], "the rows fail"
    assert checks.failures_of(dtypes, {c: raw[c].tolist() for c in raw}) == expected
    assert checks.failures_of(dtypes, {c: raw[c].tolist() for c in ["age", "workclass"]})[1]  # type: ignore[index]

    prepared = prepare_features(raw.iloc[[0, 2]].reset_index(drop=True).replace("4.5", "4"), FORMAT, SCHEMAS["int64"])
    typed_checks = RowChecks(input_prepared_suite(SCHEMAS["int64"], CONTRACT))
    dtypes = {column: str(dtype) for column, dtype in prepared.dtypes.items()}
    expected = typed_checks.failures(prepared)
    assert {(f.row, f.field) for f in expected[0]} == {
        (0, "workclass"),
        (0, "native_country"),
        (1, "age"),
        (1, "native_country"),
    }
    assert typed_checks.failures_of(dtypes, {c: prepared[c].tolist() for c in prepared}) == expected


@pytest.mark.filterwarnings("ignore:Found unknown categories")
@pytest.mark.parametrize("frames", [False, True], ids=["values", "values-and-frames"])
def test_a_shadow_scores_prepared_rows_of_several_passes_together(pipeline: Pipeline, frames: bool) -> None:
    """Shares of different passes (each with its own categories) grouped into one shadow pass:
    the fast path's values, and with them the frame path's prepared frames: rows the fast path
    steps aside for (every workclass missing: a category column with no categories at all)."""
    model = scorer("int64", pipeline)
    shadow = SimpleNamespace(scorer=model)
    shares = []
    for seed in range(6):
        body = records(3, seed, hostile=0.0)
        if frames and seed % 2:
            body = [{**record, "workclass": "?"} for record in body]
        frame, fast = both_paths(model, body)
        shares.append(share(frame if fast is None else fast, 1, 3))
    batcher = Batcher(shadow_scores, max_rows=1000, max_wait=0.2)
    with ThreadPoolExecutor(6) as pool:
        shadowed = list(pool.map(lambda mine: batcher.submit(shadow, mine.prepared), shares))
    for mine, theirs in zip(shares, shadowed, strict=True):
        alone = mine.prepared.frame() if isinstance(mine.prepared, Prepared) else mine.prepared
        expected = score_small(pipeline, alone)
        assert theirs.scores.tobytes() == expected.tobytes() == mine.scores.tobytes()
    assert {isinstance(mine.prepared, Prepared) for mine in shares} == ({True, False} if frames else {True})


def test_a_failing_shadow_is_logged_and_counted_and_raises_nothing(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception out of the shadow's background task would make uvicorn close the client's
    kept-alive connection: it stops at the boundary, with its traceback in the log."""
    model = scorer("int64", pipeline)
    _, fast = both_paths(model, records(4, 0, hostile=0.0))
    assert fast is not None
    metrics = Metrics()
    shadowing = Shadowing(metrics, max_rows=1000, max_wait=0.0)
    shadowing(SimpleNamespace(scorer=model, version="v1"), fast)
    broken = SimpleNamespace(scorer=SimpleNamespace(cfg=model.cfg, model=SimpleNamespace()), version="v2")
    with caplog.at_level(logging.ERROR, logger="census_income"):
        shadowing(broken, fast)
    text = metrics.text().decode()
    assert 'census_income_serve_shadow_rows_total{version="v1"} 4.0' in text
    assert 'census_income_serve_shadow_failures_total{version="v2"} 4.0' in text
    assert 'shadow_rows_total{version="v2"}' not in text
    [record] = caplog.records
    assert record.getMessage() == "shadow v2: scoring 4 rows failed; their answers stand"
    assert record.exc_info is not None and isinstance(record.exc_info[1], AttributeError)
