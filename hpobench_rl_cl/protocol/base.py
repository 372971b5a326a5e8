"""What every protocol family shares: identity (name at a scale), seeds, search space, content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from ConfigSpace import ConfigurationSpace

from .search_space import build_space


class ProtocolBase:
    """Mixin of the protocol dataclasses (:class:`RLProtocol`, :class:`CLProtocol`)."""

    name: str
    scale: str
    seeds: Any
    search_space_name: str
    search_space_definition: dict[str, Any]
    held_out_phase: str

    @property
    def tuning_seeds(self) -> tuple[int, ...]:
        return self.seeds.tuning

    @property
    def protocol_id(self) -> str:
        return f"{self.name}@{self.scale}"

    def search_space(self, seed: int | None = None) -> ConfigurationSpace:
        return build_space(self.search_space_definition, name=self.search_space_name, seed=seed)

    def content(self) -> dict[str, Any]:
        """Everything that defines what runs (what the hash covers)."""
        data = asdict(self)  # type: ignore[call-overload]
        data.pop("source_path")
        data["seeds"] = {"tuning": list(self.seeds.tuning), self.held_out_phase: list(self.seeds.test)}
        return data

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
