"""The library's one actionable failure type: stages print its message and exit 1, no traceback."""


class ForecastingError(RuntimeError):
    """Something cannot go on; the message tells the user what to change."""
