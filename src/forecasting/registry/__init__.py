"""The MLflow side: the tracking store, versions and aliases, the champion's moves, provenance, the loader."""
