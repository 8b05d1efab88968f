import json
import pickle

import pytest
import torch

from forecasting.model.network import (
    CONFIG_FILE,
    LEGACY_FIELDS,
    SHA_FILE,
    WEIGHTS_FILE,
    ModelConfig,
    RecurrentForecaster,
    load_model,
    save_model,
)
from tests.conftest import tiny_model_config

CONFIG = tiny_model_config()


def _inputs(batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return 1000 + 100 * torch.randn(batch, CONFIG.input_length), torch.randint(0, 336, (batch,))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forecast_shape_for_any_batch_size(cell):
    model = RecurrentForecaster(CONFIG.model_copy(update={"cell": cell})).eval()
    for batch in (1, 3, 17):
        values, phase = _inputs(batch)
        assert model(values, phase).shape == (batch, CONFIG.horizon)


def test_forecast_scales_and_shifts_with_its_input():
    """Per-window normalisation makes the forecast equivariant to affine changes of the input."""
    model = RecurrentForecaster(CONFIG).eval()
    values, phase = _inputs()
    with torch.no_grad():
        base = model(values, phase)
        scaled = model(values * 3 + 500, phase)
    torch.testing.assert_close(scaled, base * 3 + 500, rtol=1e-4, atol=1e-2)


def test_flat_input_does_not_divide_by_zero():
    model = RecurrentForecaster(CONFIG).eval()
    with torch.no_grad():
        out = model(torch.full((2, CONFIG.input_length), 5.0), torch.zeros(2, dtype=torch.int64))
    assert torch.isfinite(out).all()


def test_config_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="multiple of patch_length"):
        ModelConfig(input_length=100, patch_length=24)
    with pytest.raises(ValueError, match="seasonal_lag"):
        ModelConfig(input_length=96, horizon=24, patch_length=24, seasonal_lag=336)


def test_save_and_load_round_trip_gives_identical_forecasts(tmp_path):
    model = RecurrentForecaster(CONFIG).eval()
    digest = save_model(model, tmp_path)
    assert (tmp_path / SHA_FILE).read_text().strip() == f'"{digest}"'
    loaded = load_model(tmp_path, expected_sha256=digest)
    values, phase = _inputs()
    with torch.no_grad():
        assert torch.equal(model(values, phase), loaded(values, phase))


def test_a_config_saved_before_the_newer_fields_still_loads_as_it_was_trained(tmp_path):
    """A champion saved before lag_mixture/weekly_trend existed has neither key in its JSON."""
    model = RecurrentForecaster(CONFIG).eval()
    digest = save_model(model, tmp_path)
    saved = json.loads((tmp_path / CONFIG_FILE).read_text())
    for key in LEGACY_FIELDS:
        del saved[key]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(saved))
    loaded = load_model(tmp_path, expected_sha256=digest)
    # today's defaults turn both on; the old model gets the value it was trained with (off)
    assert ModelConfig().lag_mixture and ModelConfig().weekly_trend
    assert (loaded.config.lag_mixture, loaded.config.weekly_trend) == (False, False)
    assert loaded.config == CONFIG
    values, phase = _inputs()
    with torch.no_grad():
        assert torch.equal(model(values, phase), loaded(values, phase))


def test_a_saved_config_with_the_newer_fields_keeps_its_own_values():
    on = CONFIG.model_copy(update={"lag_mixture": True}).model_dump()
    assert ModelConfig.from_saved(on).lag_mixture is True
    with pytest.raises(ValueError, match="extra"):
        ModelConfig.from_saved({**on, "not_a_field": 1})


def test_tampered_weights_are_refused(tmp_path):
    digest = save_model(RecurrentForecaster(CONFIG), tmp_path)
    with (tmp_path / WEIGHTS_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ValueError, match="refusing"):
        load_model(tmp_path, expected_sha256=digest)


class _Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_a_pickle_in_place_of_the_weights_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_model(RecurrentForecaster(CONFIG), tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(tmp_path)
    assert not (tmp_path / "PWNED").exists()
