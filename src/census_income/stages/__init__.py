"""The pipeline's stages, one module each, run as `python -m census_income.stages <name>`."""
