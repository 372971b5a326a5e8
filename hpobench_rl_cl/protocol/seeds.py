"""The tuning/held-out seed split and the rule that keeps the held-out seeds sealed.

Tuning seeds are what an HPO tool may look at. Held-out seeds (RL: test seeds; CL: evaluation
seeds, on the evaluation dataset) are touched once per study and seed, after tuning: by the
study's incumbent and by the protocol's hand-tuned baseline. Anything else on a held-out seed is
selecting on the test set, refused unless the user asks for a recorded audit run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import ProtocolError, SealError

#: The largest seed: every library the trainers seed takes it, with room for the derived env seeds.
MAX_SEED = 2**31 - 1 - 2_000_000


@dataclass(frozen=True)
class SeedSplit:
    tuning: tuple[int, ...]
    held_out: tuple[int, ...]
    held_out_label: str = "test"

    @classmethod
    def validated(cls, tuning: Iterable[object], held_out: Iterable[object], *, origin: str = "seeds",
                  held_out_label: str = "test") -> "SeedSplit":
        """Check both lists (non-empty, non-negative integers, no repeats, disjoint) and build the split.
        ``held_out_label`` is the family's word for them (``test``, ``evaluation``), used in messages."""
        tuning_list, held_out_list = list(tuning), list(held_out)
        for label, seeds in (("tuning_seeds", tuning_list), (f"{held_out_label}_seeds", held_out_list)):
            if not seeds:
                raise ProtocolError(f"{origin}: {label} is empty")
            if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds):
                raise ProtocolError(f"{origin}: {label} must be integers from 0 to {MAX_SEED}, got {seeds}")
            duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
            if duplicates:
                raise ProtocolError(f"{origin}: {label} repeats seed(s) {duplicates}")
        overlap = sorted(set(tuning_list) & set(held_out_list))
        if overlap:
            raise ProtocolError(f"{origin}: tuning and {held_out_label} seeds overlap on {overlap}; "
                                f"{held_out_label} seeds must stay unseen")
        return cls(tuple(tuning_list), tuple(held_out_list), held_out_label)

    def require_tuning(self, seeds: Iterable[int]) -> None:
        """Guard on the tuning path: no held-out seed ever reaches an HPO tool's objective."""
        leaked = sorted(set(seeds) & set(self.held_out))
        if leaked:
            raise SealError(f"{self.held_out_label} seed(s) {leaked} may not be used while tuning: "
                            f"the {self.held_out_label} seeds are sealed")
