"""Fitting the network: the epoch loop, checkpoints and the ``torchrun`` helpers."""
