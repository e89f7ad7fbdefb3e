"""Adult-shaped data at any size: seeded resampling of real rows with a little noise.

For scale tests and benchmarks. Deterministic: chunk `i` draws from a generator seeded
with `(seed, i)`, so the same settings give the same rows whatever the chunk size of
the consumer, and chunks can be written one at a time in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from census_income.config import to_snake_case
from census_income.data.config import SynthesisConfig
from census_income.data.spec import Schema, SourceFormat


def synthesize(
    reference: pd.DataFrame, fmt: SourceFormat, schema: Schema, cfg: SynthesisConfig, *, rows: int, seed: int
) -> Iterator[pd.DataFrame]:
    """Yield chunks of at most `cfg.chunk_rows` rows, `rows` in all, shaped like `reference`.

    `reference` is a raw source as parsed (text). Numeric columns come out as int64,
    jittered (absolute or relative, per config) and clipped to the reference's range;
    text columns keep the reference's values (missing marker and label spelling too),
    as categoricals.
    """
    by_snake = {to_snake_case(c): c for c in fmt.columns}
    numeric = {by_snake[name]: pd.to_numeric(reference[by_snake[name]]).to_numpy(np.int64) for name in schema.numeric}
    text = {c: reference[c].astype("category") for c in fmt.columns if c not in numeric}
    absolute = {by_snake[k]: v for k, v in cfg.jitter_absolute.items()}
    relative = {by_snake[k]: v for k, v in cfg.jitter_relative.items()}
    for index, start in enumerate(range(0, rows, cfg.chunk_rows)):
        size = min(cfg.chunk_rows, rows - start)
        rng = np.random.default_rng([seed, index])
        picks = rng.integers(0, len(reference), size=size)
        chunk: dict[str, object] = {}
        for column in fmt.columns:
            if column in numeric:
                values = numeric[column][picks]
                low, high = numeric[column].min(), numeric[column].max()
                if column in absolute:
                    values = values + rng.integers(-absolute[column], absolute[column] + 1, size=size)
                if column in relative:
                    values = np.rint(values * rng.lognormal(0.0, relative[column], size=size)).astype(np.int64)
                chunk[column] = np.clip(values, low, high)
            else:
                source = text[column]
                chunk[column] = pd.Categorical.from_codes(source.cat.codes.to_numpy()[picks], source.cat.categories)
        yield pd.DataFrame(chunk)
