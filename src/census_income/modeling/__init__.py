"""Features, models, evaluation and the metrics vocabulary: what turns prepared rows into a scored model."""
