"""The batched JAX backend for RL: gymnax environments, PPO with SB3 semantics, one compiled call per batch."""
