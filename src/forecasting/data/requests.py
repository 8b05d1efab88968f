"""Forecast requests (recent values + the timestamp of the last one) drawn from a series frame.

The shape the service, the pyfunc and the MLflow input example take; pandas only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def latest_request(frame: pd.DataFrame, input_length: int) -> dict[str, Any]:
    """A forecast request from the end of ``frame``, as the service and the pyfunc take it.

    The first series' last ``input_length`` values (oldest first) and the time of the last one.
    """
    return recent_requests(frame, input_length, count=1)[0]


def recent_requests(
    frame: pd.DataFrame, input_length: int, count: int, stride: int = 1
) -> list[dict[str, Any]]:
    """Up to ``count`` requests from the end of ``frame``, newest first.

    The latest window of each series in turn, then windows ending ``stride``, ``2 * stride``,
    ... steps earlier.
    """
    series = [group.sort_values("timestamp") for _, group in frame.groupby("series_id", sort=True)]
    requests: list[dict[str, Any]] = []
    shift = 0
    while len(requests) < count:
        added = False
        for rows in series:
            end = len(rows) - shift
            if end < input_length or len(requests) == count:
                continue
            window = rows.iloc[end - input_length : end]
            requests.append(
                {
                    "values": window["value"].astype(float).tolist(),
                    "end": pd.Timestamp(window["timestamp"].iloc[-1]).isoformat(),
                }
            )
            added = True
        if not added:
            break
        shift += stride
    return requests
