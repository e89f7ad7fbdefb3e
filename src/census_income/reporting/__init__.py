"""What the pipeline tells people: the pull-request report, lineage, model card, the run log."""
