"""hpobench-rl-cl: reproducible HPO benchmarks for RL and CL that enforce the tuning/test split.

Pipeline: protocol -> optimizer <-> runner -> trainer -> result store -> analysis -> leaderboard.
The public operations are in :mod:`hpobench_rl_cl.api`.
"""

__version__ = "0.1.0"
