"""Data sets: their description, ingestion, preparation and split."""
