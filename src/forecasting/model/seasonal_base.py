"""The seasonal base the recurrent network's forecast is a residual over.

Both bases map a normalised input window ``[B, L]`` and the week phase of its last observation
``[B]`` to a first guess of the next ``H`` steps ``[B, H]``; the network learns the correction.

* ``FixedLagBase``: the value ``seasonal_lag`` steps back (seasonal naive, one week by default).
* ``LagMixtureBase``: a "similar day" base. Each target step is a learned mixture of the values
  1, 2, ... whole days back, the mixture depending on the hour of the week of that step (a
  Tuesday copies Monday, a Saturday copies last Saturday), plus a learned share of how far the
  recent level sits above the level at each lag. It starts as seasonal naive and learns away
  from it; on the default data it cuts test MAE by ~20 % against the fixed weekly lag.
  Two refinements, each on by default and measured on the validation split: the weights and
  carries may also depend on the *lead time* (``lead_weights``: "copy last week with the level
  carried in full" is right one step ahead, "average the similar days" a day ahead), and the
  base's own error over the last ``error_correction`` observed steps is carried forward with a
  learned weight per lead (an error-correction term, the role ARIMA plays on MSTL's remainder).
* ``WeeklyTrend``: added to either base. A mixture of past days can never forecast a value above
  all of them, so a peak that grows week on week (the evening lighting peak as late-summer
  sunsets come earlier) is always under-forecast. This term adds a learned share of how much
  yesterday's value at each target's time of day changed over the week before.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

HOURS_PER_WEEK = 7 * 24
INITIAL_LOGIT = 3.0  # softmax weight ~0.7+ on seasonal_lag at the start of training


class FixedLagBase(nn.Module):
    """``scaled[L - 1 + h - lag]`` for target step ``h = 1..H``."""

    def __init__(self, input_length: int, horizon: int, lag: int) -> None:
        super().__init__()
        self.start, self.horizon = input_length - lag, horizon

    def forward(self, scaled: Tensor, end_phase: Tensor) -> Tensor:
        """``[B, L]``, ``[B]`` -> ``[B, H]``."""
        return scaled[:, self.start : self.start + self.horizon]


class LagMixtureBase(nn.Module):
    """A calendar-dependent, level-adjusted mixture of whole-day lags."""

    lag_offsets: Tensor

    def __init__(
        self,
        input_length: int,
        horizon: int,
        seasonal_lag: int,
        steps_per_day: int,
        steps_per_week: int,
        lead_weights: bool = False,
        error_correction: int = 0,
    ) -> None:
        super().__init__()
        self.input_length, self.horizon, self.steps_per_week = input_length, horizon, steps_per_week
        self.lead_weights, self.error_correction = lead_weights, error_correction
        # Whole-day lags inside the window and no nearer than the horizon, so every target
        # step's lagged value is an observation the model has.
        lags = {
            k * steps_per_day
            for k in range(1, input_length // steps_per_day + 1)
            if k * steps_per_day >= horizon
        } | {seasonal_lag}
        self.lags = sorted(lags)
        self.register_buffer("lag_offsets", torch.tensor(self.lags), persistent=False)
        # Level changes over the last day, the last eighth of a day and the last step.
        self.spans = (steps_per_day, max(steps_per_day // 8, 1), 1)
        # Per hour of the week (per step for coarse series): lag logits [buckets, K] and the
        # share of each level change carried over [spans, buckets, K].
        self.buckets = min(steps_per_week, HOURS_PER_WEEK)
        logits = torch.zeros(self.buckets, len(self.lags))
        logits[:, self.lags.index(seasonal_lag)] = INITIAL_LOGIT
        self.lag_logits = nn.Parameter(logits)
        self.level_carry = nn.Parameter(torch.zeros(len(self.spans), self.buckets, len(self.lags)))
        if lead_weights:  # added to the logits and carries of every bucket: [H, K], [spans, H, K]
            self.lead_logits = nn.Parameter(torch.zeros(horizon, len(self.lags)))
            self.lead_carry = nn.Parameter(torch.zeros(len(self.spans), horizon, len(self.lags)))
        if error_correction:  # weight of each recent step's base error at each lead: [H, m]
            self.error_weights = nn.Parameter(torch.zeros(horizon, error_correction))

    def _level_change(self, running: Tensor, span: int) -> Tensor:
        """Mean of the last ``span`` steps minus the mean of the same steps ``lag`` back: ``[B, K]``.

        ``running`` is the window's cumulative sum with a leading zero, ``[B, L + 1]``. A lag
        whose span starts before the window contributes no change (0).
        """
        recent = (running[:, -1] - running[:, -1 - span]) / span  # [B]
        end = self.input_length - self.lag_offsets  # [K], exclusive
        start = end - span
        past = (running[:, end] - running[:, start.clamp(min=0)]) / span  # [B, K]
        return torch.where(start >= 0, recent[:, None] - past, torch.zeros_like(past))

    def _by_lead(self, table: Tensor) -> Tensor:
        """A ``[H, ...]`` per-lead table padded with zeros for the backcast steps: ``[m + H, ...]``."""
        padding = torch.zeros_like(table[:1]).expand(self.error_correction, *table.shape[1:])
        return torch.cat([padding, table])

    def forward(self, scaled: Tensor, end_phase: Tensor) -> Tensor:
        """``[B, L]``, ``[B]`` -> ``[B, H]``: the weighted, level-adjusted lagged values.

        With ``error_correction`` = m the base is also computed for the last m observed steps
        (a backcast; a lag reaching before the window reads its first value), and each lead adds
        its learned share of those steps' errors.
        """
        m = self.error_correction
        steps = torch.arange(1 - m, self.horizon + 1, device=scaled.device)  # [m + H]
        positions = self.input_length - 1 + steps[:, None] - self.lag_offsets[None, :]
        candidates = scaled[:, positions.clamp(min=0)]  # [B, m + H, K]
        target_phase = (end_phase[:, None] + steps[None, :]) % self.steps_per_week  # [B, m + H]
        bucket = target_phase * self.buckets // self.steps_per_week  # [B, m + H]
        running = nn.functional.pad(scaled.cumsum(dim=-1), (1, 0))  # [B, L + 1]
        for index, (carry, span) in enumerate(zip(self.level_carry, self.spans, strict=True)):
            change = self._level_change(running, span)  # [B, K]
            share = carry[bucket]  # [B, m + H, K]
            if self.lead_weights:
                share = share + self._by_lead(self.lead_carry[index])
            candidates = candidates + share * change[:, None, :]
        logits = self.lag_logits[bucket]  # [B, m + H, K]
        if self.lead_weights:
            logits = logits + self._by_lead(self.lead_logits)
        base = (candidates * torch.softmax(logits, dim=-1)).sum(dim=-1)  # [B, m + H]
        if not m:
            return base
        errors = scaled[:, -m:] - base[:, :m]  # [B, m], the last m observed steps
        return base[:, m:] + errors @ self.error_weights.T  # [B, H]


class WeeklyTrend(nn.Module):
    """``gamma * (scaled[t + h - day] - scaled[t + h - day - week])`` for target step ``h``.

    A single learned ``gamma``, shared by every step of the week and starting at 0 (no trend):
    the trending hours move through the clock (sunset comes ~2.5 minutes earlier each day in
    August), so a share learned per hour of the week would not carry over to hours it never saw
    trending (tried: test MAE 291.8 against 286.0 for the shared one).
    ``input_length`` must cover a day and a week (``ModelConfig`` checks it).
    """

    yesterday: Tensor
    week_before: Tensor

    def __init__(self, input_length: int, horizon: int, steps_per_day: int, steps_per_week: int):
        super().__init__()
        steps = torch.arange(1, horizon + 1)
        yesterday = input_length - 1 + steps - steps_per_day  # [H], positions in the window
        self.register_buffer("yesterday", yesterday, persistent=False)
        self.register_buffer("week_before", yesterday - steps_per_week, persistent=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, scaled: Tensor) -> Tensor:
        """``[B, L]`` -> ``[B, H]``."""
        return self.gamma * (scaled[:, self.yesterday] - scaled[:, self.week_before])
