"""Registered model versions and scoring them: the registry, batch scoring (predict), and its pure parts."""
