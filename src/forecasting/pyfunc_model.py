"""The loader path every registered version names (``loader_module="forecasting.pyfunc_model"``).

Kept at this import path so versions registered before the package was split into subfolders
still load; the implementation lives in :mod:`forecasting.registry.pyfunc`.
"""

from forecasting.registry.pyfunc import PyfuncForecaster, _load_pyfunc

__all__ = ["PyfuncForecaster", "_load_pyfunc"]
