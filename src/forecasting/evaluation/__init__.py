"""Scoring against baselines and the champion: metrics, baselines, paired evidence, the gate, the card."""
