"""The tuning/test seed split and the rule that keeps the test seeds sealed.

Tuning seeds are what an HPO tool may look at. Test seeds are touched once per study and seed,
after tuning: by the study's incumbent and by the protocol's hand-tuned baseline. Anything else on
a test seed is selecting on the test set, refused unless the user asks for a recorded audit run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import ProtocolError, SealError


@dataclass(frozen=True)
class SeedSplit:
    tuning: tuple[int, ...]
    test: tuple[int, ...]

    @classmethod
    def validated(cls, tuning: Iterable[object], test: Iterable[object], *, origin: str = "seeds") -> "SeedSplit":
        tuning_list, test_list = list(tuning), list(test)
        for label, seeds in (("tuning_seeds", tuning_list), ("test_seeds", test_list)):
            if not seeds:
                raise ProtocolError(f"{origin}: {label} is empty")
            if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
                raise ProtocolError(f"{origin}: {label} must be non-negative integers, got {seeds}")
            duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
            if duplicates:
                raise ProtocolError(f"{origin}: {label} repeats seed(s) {duplicates}")
        overlap = sorted(set(tuning_list) & set(test_list))
        if overlap:
            raise ProtocolError(f"{origin}: tuning and test seeds overlap on {overlap}; test seeds must stay unseen")
        return cls(tuple(tuning_list), tuple(test_list))

    def require_tuning(self, seeds: Iterable[int]) -> None:
        """Guard on the tuning path: no test seed ever reaches an HPO tool's objective."""
        leaked = sorted(set(seeds) & set(self.test))
        if leaked:
            raise SealError(f"test seed(s) {leaked} may not be used while tuning: the test seeds are sealed")
