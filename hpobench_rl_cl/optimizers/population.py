"""Population-based tools: PBT (Jaderberg et al. 2017) and PB2 (Parker-Holder et al. 2020).

A population of configurations trains in lockstep, segment by segment; after each segment the tool
sees every member's score (its mean over the tuning seeds) and answers, for each member, whose
learner it continues from (itself, or a better member whose weights and optimizer state it copies:
*exploit*) and the configuration it trains with in the next segment (*explore*). The runner owns the
training, the checkpoints and the store (``runner/population.py``); a member's result is its
schedule, the configuration in force in each segment.

Both tools follow the RL paper's settings (automl's hypersweeper, which the paper's authors wrote):
the bottom quarter of the population exploits a random member of the top quarter. PBT resamples
each explored hyperparameter with probability 0.25, else multiplies a numeric value by 1.2 or 0.8
and moves an ordered categorical to a neighbouring choice. PB2 chooses the explored values
by a GP bandit on the members' score improvements per segment (UCB with beta = 0.2 + log(0.4 n),
the variance including the values already chosen in the same round, as PB2's batch rule). The GP
is scikit-learn's (Matern 5/2 over time and the normalised hyperparameters, plus white noise), not
GPy's time-varying kernel: GPy is not a dependency, and the time dimension with its own fitted
length scale gives the same forgetting of old segments. Categoricals enter the GP as normalised
choice indices (PB2-Mix uses an EXP3 bandit for them). Hyperparameters that shape the learner's
state (the backend's ``carry_shaping``: e.g. the replay buffer's size) are drawn once per member and
inherited on exploit, never perturbed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.hyperparameters import CategoricalHyperparameter, OrdinalHyperparameter

from .base import config_dict, plain

QUANTILE = 0.25
RESAMPLE_PROBABILITY = 0.25
PERTURBATION_FACTORS = (1.2, 0.8)


class PopulationTool:
    """Base of population-based tools; ``population_based`` tells the study to run them through
    the population runner instead of ask/tell per configuration."""

    population_based = True
    multi_fidelity = False

    def __init__(self, space: ConfigurationSpace, *, seed: int, population_size: int,
                 frozen: frozenset[str] = frozenset()) -> None:
        self.space = space
        self.population_size = population_size
        self.frozen = frozen
        self.rng = np.random.default_rng(seed)
        self.space.seed(seed)

    def initial(self) -> list[dict[str, Any]]:
        """The first segment's configurations, drawn from the search space."""
        return [config_dict(c) for c in self.space.sample_configuration(self.population_size)]

    def next_configs(self, configs: Sequence[dict[str, Any]], scores: Sequence[float]) -> list[tuple[int, dict[str, Any]]]:
        """For each member after a segment: (the member whose learner it continues from, its next
        configuration). ``configs`` are those in force in the segment just trained."""
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
        cut = max(1, math.ceil(QUANTILE * len(configs))) if len(configs) > 1 else 0
        top, bottom = set(order[:cut].tolist()), set(order[len(configs) - cut:].tolist()) - set(order[:cut].tolist())
        self.observe(configs, scores)
        chosen: list[tuple[int, dict[str, Any]]] = []
        for member, config in enumerate(configs):
            if member in bottom:
                source = int(self.rng.choice(sorted(top)))
                chosen.append((source, self.explore(configs[source], [c for _, c in chosen])))
            else:
                chosen.append((member, dict(config)))
        return chosen

    def observe(self, configs: Sequence[dict[str, Any]], scores: Sequence[float]) -> None:
        """Learn from a finished segment (PB2's data); PBT needs nothing."""

    def explore(self, config: dict[str, Any], chosen: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def tunable(self) -> list[Any]:
        return [hp for hp in self.space.values() if hp.name not in self.frozen]

    def legal(self, values: dict[str, Any]) -> dict[str, Any]:
        return config_dict(Configuration(self.space, values=values))

    def resample(self, hp: Any) -> Any:
        return plain(hp.sample_value(seed=np.random.RandomState(int(self.rng.integers(2**31)))))


def _ordered(hp: Any) -> bool:
    if isinstance(hp, OrdinalHyperparameter):
        return True
    return isinstance(hp, CategoricalHyperparameter) and all(
        isinstance(c, (int, float)) and not isinstance(c, bool) for c in hp.choices)


class PBT(PopulationTool):
    """Population Based Training: truncation selection, then perturbation or resampling."""

    def explore(self, config: dict[str, Any], chosen: list[dict[str, Any]]) -> dict[str, Any]:
        values = dict(config)
        for hp in self.tunable():
            if self.rng.random() < RESAMPLE_PROBABILITY:
                values[hp.name] = self.resample(hp)
            elif isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
                choices = list(hp.sequence if isinstance(hp, OrdinalHyperparameter) else hp.choices)
                if _ordered(hp):
                    choices.sort()
                    index = choices.index(values[hp.name]) + int(self.rng.choice((-1, 1)))
                    values[hp.name] = plain(choices[min(max(index, 0), len(choices) - 1)])
                else:
                    values[hp.name] = self.resample(hp)
            elif hasattr(hp, "lower"):
                value = values[hp.name] * float(self.rng.choice(PERTURBATION_FACTORS))
                value = min(max(value, hp.lower), hp.upper)
                values[hp.name] = int(round(value)) if isinstance(hp.lower, (int, np.integer)) else float(value)
        return self.legal(values)


class PB2(PopulationTool):
    """Population-Based Bandits: exploit as PBT, explore by a time-aware GP-UCB on improvements."""

    CANDIDATES = 2000

    def __init__(self, space: ConfigurationSpace, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.rows: list[np.ndarray] = []  # (segment, encoded configuration)
        self.improvements: list[float] = []
        self.last_scores: list[float] | None = None
        self.segment = 0

    def encode(self, config: dict[str, Any]) -> np.ndarray:
        out = []
        for hp in self.tunable():
            if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
                choices = list(hp.sequence if isinstance(hp, OrdinalHyperparameter) else hp.choices)
                if _ordered(hp):
                    choices.sort()
                out.append(choices.index(config[hp.name]) / max(len(choices) - 1, 1))
            else:
                out.append(float(hp.to_vector(config[hp.name])))
        return np.asarray(out)

    def decode(self, vector: np.ndarray, base: dict[str, Any]) -> dict[str, Any]:
        values = dict(base)
        for hp, x in zip(self.tunable(), vector):
            if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
                choices = list(hp.sequence if isinstance(hp, OrdinalHyperparameter) else hp.choices)
                if _ordered(hp):
                    choices.sort()
                values[hp.name] = plain(choices[int(round(x * (len(choices) - 1)))])
            else:
                value = plain(hp.to_value(np.float64(min(max(x, 0.0), 1.0))))
                values[hp.name] = value
        return self.legal(values)

    def observe(self, configs: Sequence[dict[str, Any]], scores: Sequence[float]) -> None:
        previous = self.last_scores or [0.0] * len(scores)
        for config, score, before in zip(configs, scores, previous):
            self.rows.append(np.concatenate(([self.segment], self.encode(config))))
            self.improvements.append(float(score) - float(before))
        self.last_scores = list(map(float, scores))
        self.segment += 1

    def explore(self, config: dict[str, Any], chosen: list[dict[str, Any]]) -> dict[str, Any]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        dims = len(self.tunable())
        if dims == 0:
            return dict(config)
        X = np.asarray(self.rows, dtype=float)
        X[:, 0] /= max(self.segment, 1)
        y = np.asarray(self.improvements)
        y = (y - y.mean()) / (y.std() or 1.0)
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(dims + 1), nu=2.5) + WhiteKernel(0.1)
        model = GaussianProcessRegressor(kernel, normalize_y=False, random_state=int(self.rng.integers(2**31)))
        with warnings.catch_warnings():  # a few dozen points often put a length scale at its bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        now = 1.0  # the next segment, on the normalised time axis
        pending = [np.concatenate(([now], self.encode(c))) for c in chosen]
        variance_model = model
        if pending:  # the batch rule: chosen points lower the variance around them, not the mean
            fixed = GaussianProcessRegressor(model.kernel_, optimizer=None)
            Xp = np.vstack([X, pending])
            variance_model = fixed.fit(Xp, np.concatenate([y, model.predict(np.asarray(pending))]))
        candidates = np.column_stack([np.full(self.CANDIDATES, now), self.rng.random((self.CANDIDATES, dims))])
        beta = 0.2 + max(0.0, math.log(0.4 * len(X)))
        mean = model.predict(candidates)
        _, std = variance_model.predict(candidates, return_std=True)
        best = candidates[int(np.argmax(mean + math.sqrt(beta) * std))][1:]
        return self.decode(best, config)
