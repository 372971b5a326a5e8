"""SMAC3's multi-fidelity facade (Hyperband, eta 3); the fidelity is SMAC's budget, as the
fraction of a full run's timesteps."""

from __future__ import annotations

from typing import Any

from .smac import SMACBase, ask_tell_target


class SMACMultiFidelity(SMACBase):
    multi_fidelity = True

    def _facade(self, scenario: Any) -> Any:
        from smac import MultiFidelityFacade as Facade

        intensifier = Facade.get_intensifier(scenario, eta=3)
        return Facade(scenario, ask_tell_target, intensifier=intensifier, overwrite=True, logging_level=40)
