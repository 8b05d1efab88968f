"""Series in and out: sources, fetching, timestamps, snapshots, gaps, the contract, drift, splits.

Imports neither torch nor mlflow, so ingest and validate never pay for them.
"""
