"""Trainer backends, one folder per family: ``rl/`` (SB3) and ``cl/`` (Avalanche). Backends are
found by name in :data:`~.base.BACKENDS` and imported only when a trial trains."""
