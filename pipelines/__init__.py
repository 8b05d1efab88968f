"""Stage entry points: ``python -m pipelines.<stage>``. Thin verbs over the ``forecasting`` library."""
