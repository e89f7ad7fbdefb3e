"""`python -m census_income.cli`: the same as the `census-income` console script."""

import sys

from census_income.cli import main

if __name__ == "__main__":
    sys.exit(main())
