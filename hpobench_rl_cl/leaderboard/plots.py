"""Seaborn figures of a protocol page, written as self-contained SVG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import seaborn as sns  # noqa: E402

from ..analysis.tables import ProtocolView  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    # A fixed hash salt keeps the SVG identical from build to build of the same results.
    with matplotlib.rc_context({"svg.hashsalt": "hpobench-rl-cl", "svg.fonttype": "none"}):
        figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)
    return path


def anytime_plot(view: ProtocolView, path: Path) -> Path | None:
    """Incumbent tuning score vs budget spent, per tool: mean over the tool's studies, 95% CI band."""
    if view.anytime.empty:
        return None
    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    sns.lineplot(data=view.anytime, x="budget", y="incumbent_score", hue="optimizer", errorbar=("ci", 95),
                 drawstyle="steps-post", seed=0, ax=axis)
    axis.set_xlabel("budget spent (full-run equivalents)")
    axis.set_ylabel("incumbent tuning score")
    axis.set_title(f"{view.protocol_id}: anytime performance")
    sns.move_legend(axis, "upper left", bbox_to_anchor=(1.02, 1), title="HPO tool", frameon=False)  # clear of the curves
    return _save(figure, path)


def test_scores_plot(view: ProtocolView, path: Path) -> Path | None:
    """Every held-out score of every method, one point per seed (and HPO run)."""
    if view.test_points.empty:
        return None
    figure, axis = plt.subplots(figsize=(6.4, 0.6 + 0.45 * view.test_points["method"].nunique()))
    # seaborn jitters with NumPy's global generator and takes no seed: a fixed one keeps the figure
    # identical from build to build of the same results, whatever was drawn before.
    state = np.random.get_state()
    np.random.seed(0)
    try:
        sns.stripplot(data=view.test_points, x="score", y="method", hue="method", legend=False, size=6,
                      jitter=0.15, ax=axis)
    finally:
        np.random.set_state(state)
    axis.set_xlabel("held-out score per seed")
    axis.set_ylabel("method")
    return _save(figure, path)
