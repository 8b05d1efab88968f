"""The file names of a saved forecaster, shared by the model, the registry and the Bento build.

Here, not in :mod:`forecasting.model.network`, so that looking up registry files needs no torch.
"""

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "model_config.json"
SHA_FILE = "weights.sha256"  # the digest recorded at training time, as a JSON string
CALIBRATION_FILE = "calibration.json"  # the interval calibration (model/intervals.py), if any
