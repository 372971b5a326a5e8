"""Online EWC (Schwarz et al. 2018): one running importance estimate, decayed at each experience."""

from __future__ import annotations

from hpobench_rl_cl.trainers.cl.strategies import strategy


@strategy("ewc-online", "ewc_lambda", "ewc_decay")
def online_ewc(model, optimizer, hp, ctx, common):
    from avalanche.training import EWC
    from torch import nn

    return EWC(model=model, optimizer=optimizer, criterion=nn.CrossEntropyLoss(), ewc_lambda=hp["ewc_lambda"],
               mode="online", decay_factor=hp["ewc_decay"], **common)
