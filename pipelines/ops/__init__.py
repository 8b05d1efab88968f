"""Operator commands, run by hand (``make serve``, ``history``, ``rollback``, ``lineage``); not DVC stages."""
