"""Watching the served champion: live error against the test error, input drift, the trigger."""
