"""census-income: a data-versioned ML experiment repository on DVC (UCI Adult income)."""

import os

# OpenMP threads (scikit-learn's gradient boosting) spin while waiting by default, which
# on a small shared machine slows a stage several times over. The runtime reads this when
# it loads, so it is set here, before any stage imports scikit-learn; users can override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
