"""What every part shares: crash-safe files and hashes, calendar arithmetic, plots, errors.

Imports neither torch nor mlflow.
"""
