"""Reproductions of the two papers' comparisons, at a chosen scale, as ordinary studies: every study
behind a table is exported under ``results/rl`` or ``results/cl`` like any other, so the leaderboard
shows them; rerunning a reproduction resumes it."""

from .cl_paper import CL_PAPER_SUITES, reproduce_cl_paper
from .rl_paper import RL_PAPER_PLANS, reproduce_rl_paper

__all__ = ["CL_PAPER_SUITES", "RL_PAPER_PLANS", "reproduce_cl_paper", "reproduce_rl_paper"]
