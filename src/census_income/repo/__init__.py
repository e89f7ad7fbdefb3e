"""The git and DVC side of the project: dvc.lock as lineage, whether it is stale, the software environment."""
