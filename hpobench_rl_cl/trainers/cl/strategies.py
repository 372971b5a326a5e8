"""Avalanche strategies, registered by name.

A builder receives the model, the optimizer, the method's own hyperparameters (from the
configuration), the scenario's replay memory and the keyword arguments every Avalanche template
takes (mini-batch size, epochs, device, evaluator, plugins), and returns the strategy. Registering
one more (``@STRATEGIES.register("name")``, an entry point, or ``module:function`` in a protocol)
adds a strategy without touching the trainer.

Hyperparameters shared by every strategy (lr, momentum, weight_decay, batch_size, lr_schedule and,
where a protocol tunes them as GTEP does, epochs) are consumed by the trainer; :data:`OWN_HYPERPARAMETERS` lists what each built-in method adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ...registry import Registry

SHARED_HYPERPARAMETERS = ("lr", "momentum", "weight_decay", "batch_size", "lr_schedule", "epochs")


@dataclass(frozen=True)
class StrategyContext:
    """Scenario facts a builder may need besides the configuration."""

    memory_size: int
    n_experiences: int
    batch_size: int


StrategyBuilder = Callable[[nn.Module, Any, dict[str, Any], StrategyContext, dict[str, Any]], Any]
STRATEGIES: Registry[StrategyBuilder] = Registry("CL strategy", "hpobench_rl_cl.strategies")
OWN_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {}


def strategy(name: str, *own: str) -> Callable[[StrategyBuilder], StrategyBuilder]:
    """Register a builder under ``name`` with the hyperparameters it reads from the configuration."""

    def decorate(builder: StrategyBuilder) -> StrategyBuilder:
        OWN_HYPERPARAMETERS[name] = own
        return STRATEGIES.register(name)(builder)

    return decorate


def _ce() -> nn.Module:
    return nn.CrossEntropyLoss()


@strategy("naive")
def naive(model, optimizer, hp, ctx, common):
    from avalanche.training import Naive

    return Naive(model=model, optimizer=optimizer, criterion=_ce(), **common)


@strategy("cumulative")
def cumulative(model, optimizer, hp, ctx, common):
    from avalanche.training import Cumulative

    return Cumulative(model=model, optimizer=optimizer, criterion=_ce(), **common)


@strategy("ewc", "ewc_lambda")
def ewc(model, optimizer, hp, ctx, common):
    from avalanche.training import EWC

    return EWC(model=model, optimizer=optimizer, criterion=_ce(), ewc_lambda=hp["ewc_lambda"], **common)


@strategy("si", "si_lambda")
def synaptic_intelligence(model, optimizer, hp, ctx, common):
    from avalanche.training import SynapticIntelligence

    return SynapticIntelligence(model=model, optimizer=optimizer, criterion=_ce(), si_lambda=hp["si_lambda"], **common)


@strategy("mas", "mas_lambda", "mas_alpha")
def mas(model, optimizer, hp, ctx, common):
    from avalanche.training import MAS

    return MAS(model=model, optimizer=optimizer, criterion=_ce(), lambda_reg=hp["mas_lambda"], alpha=hp["mas_alpha"],
               **common)


@strategy("lwf", "lwf_alpha", "lwf_temperature")
def lwf(model, optimizer, hp, ctx, common):
    from avalanche.training import LwF

    return LwF(model=model, optimizer=optimizer, criterion=_ce(), alpha=hp["lwf_alpha"],
               temperature=hp["lwf_temperature"], **common)


@strategy("replay")
def replay(model, optimizer, hp, ctx, common):
    from avalanche.training import Replay

    return Replay(model=model, optimizer=optimizer, criterion=_ce(), mem_size=ctx.memory_size, **common)


@strategy("icarl")
def icarl(model, optimizer, hp, ctx, common):
    from avalanche.training import ICaRL

    return ICaRL(feature_extractor=model.features, classifier=model.classifier, optimizer=optimizer,
                 memory_size=ctx.memory_size, buffer_transform=None, fixed_memory=True, **common)


@strategy("gem", "gem_memory_strength")
def gem(model, optimizer, hp, ctx, common):
    from avalanche.training import GEM

    return GEM(model=model, optimizer=optimizer, criterion=_ce(),
               patterns_per_exp=max(1, ctx.memory_size // ctx.n_experiences),
               memory_strength=hp["gem_memory_strength"], **common)


@strategy("agem")
def agem(model, optimizer, hp, ctx, common):
    from avalanche.training import AGEM

    return AGEM(model=model, optimizer=optimizer, criterion=_ce(),
                patterns_per_exp=max(1, ctx.memory_size // ctx.n_experiences), sample_size=ctx.batch_size, **common)


@strategy("derpp", "derpp_alpha", "derpp_beta")
def derpp(model, optimizer, hp, ctx, common):
    """Avalanche's ``DER`` is DER++ (Buzzega et al. 2020: replayed logits and labels), not the CL
    paper's DER (Dynamically Expandable Representation, Yan et al. 2021), which Avalanche lacks."""
    from avalanche.training import DER

    return DER(model=model, optimizer=optimizer, criterion=_ce(), mem_size=ctx.memory_size,
               batch_size_mem=ctx.batch_size, alpha=hp["derpp_alpha"], beta=hp["derpp_beta"], **common)


@strategy("er-ace")
def er_ace(model, optimizer, hp, ctx, common):
    from avalanche.training import ER_ACE

    return ER_ACE(model=model, optimizer=optimizer, criterion=_ce(), mem_size=ctx.memory_size,
                  batch_size_mem=ctx.batch_size, **common)


def _multistep_lr_without_verbose(*args: Any, verbose: Any = None, **kwargs: Any) -> Any:
    from torch.optim.lr_scheduler import MultiStepLR

    return MultiStepLR(*args, **kwargs)


@strategy("bic", "bic_temperature")
def bic(model, optimizer, hp, ctx, common):
    from avalanche.training import BiC
    from avalanche.training.plugins import bic as bic_plugin

    # Avalanche 0.6's BiC stage 2 passes verbose= to MultiStepLR, which torch 2.14 no longer takes.
    bic_plugin.MultiStepLR = _multistep_lr_without_verbose

    return BiC(model=model, optimizer=optimizer, criterion=_ce(), mem_size=ctx.memory_size, val_percentage=0.1,
               T=hp["bic_temperature"], stage_2_epochs=common["train_epochs"], lr=hp["lr"], **common)


@strategy("gdumb")
def gdumb(model, optimizer, hp, ctx, common):
    from avalanche.training import GDumb

    return GDumb(model=model, optimizer=optimizer, criterion=_ce(), mem_size=ctx.memory_size, **common)


def accepted_hyperparameters(name: str) -> set[str] | None:
    """What a configuration of strategy ``name`` may set; None for a plugin registered without
    ``@strategy`` (its builder decides). An unknown name raises, naming the known ones."""
    builder = STRATEGIES.get(name)
    own = OWN_HYPERPARAMETERS.get(name)
    if own is None:
        own = next((v for k, v in OWN_HYPERPARAMETERS.items() if STRATEGIES.get(k) is builder), None)
    return None if own is None else set(SHARED_HYPERPARAMETERS) | set(own)
