"""Write an audit as markdown, JSON and seaborn plots (PNG and SVG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def markdown(report: dict[str, Any], title: str) -> str:
    lines = [f"# Seed-overfitting audit: {title}", "", f"Mode: {report['mode']}; {report['configs']} configurations; "
             f"incumbent `{report['incumbent']}` (best mean on the tuning seeds).", ""]
    lines += ["## Flags", ""] + [f"- {flag}" for flag in report["flags"] or ["none"]] + [""]
    gap = report.get("incumbent_gap")
    if gap:
        lines += ["## Incumbent generalization gap", "",
                  f"tuning mean - held-out mean = **{gap['gap']:.3f}** (bootstrap 95% CI [{gap['ci95'][0]:.3f}, "
                  f"{gap['ci95'][1]:.3f}]; {gap['tuning_seeds']} tuning, {gap['held_out_seeds']} held-out seeds)", ""]
    agreement = report.get("rank_agreement")
    if agreement:
        lines += ["## Rank agreement (tuning vs held-out means)", "",
                  f"{agreement['configs']} configurations: Spearman {agreement['spearman']:.3f}, "
                  f"Kendall {agreement['kendall']:.3f}", ""]
    if report.get("seed_subset_sensitivity"):
        lines += ["## Seed-subset sensitivity", "",
                  f"k tuning seeds drawn from {report['sensitivity_seeds']}, the rest held out.", "",
                  "| k | subsets | P(chosen is best held-out) | expected regret |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['k']} | {r['subsets']} | {r['p_best_on_held_out']:.3f} | {r['expected_regret']:.3f} |"
                  for r in report["seed_subset_sensitivity"]] + [""]
    lines += ["## Per configuration", "", *markdown_table(report["per_config"]), ""]
    return "\n".join(lines)


def markdown_table(records: list[dict[str, Any]]) -> list[str]:
    columns = list(records[0]) if records else []

    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    return [f"| {' | '.join(columns)} |", f"|{' --- |' * len(columns)}"] + [
        f"| {' | '.join(cell(r[c]) for c in columns)} |" for r in records]


def write(report: dict[str, Any], out: Path, title: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "audit.md", out / "audit.json"]
    paths[0].write_text(markdown(report, title))
    paths[1].write_text(json.dumps(report, indent=2))
    sns.set_theme(style="whitegrid")
    if report.get("seed_subset_sensitivity"):
        rows = pd.DataFrame(report["seed_subset_sensitivity"])
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        sns.lineplot(rows, x="k", y="p_best_on_held_out", marker="o", ax=axes[0])
        axes[0].set(xlabel="tuning seeds k", ylabel="P(chosen = best on held-out)", ylim=(0, 1.05))
        sns.lineplot(rows, x="k", y="expected_regret", marker="o", ax=axes[1])
        axes[1].set(xlabel="tuning seeds k", ylabel="expected regret on held-out")
        for axis in axes:
            axis.set_xticks(rows["k"])
        figure.suptitle(f"Seed-subset sensitivity: {title}")
        figure.tight_layout()
        for suffix in ("png", "svg"):
            paths.append(out / f"seed_sensitivity.{suffix}")
            figure.savefig(paths[-1])
        plt.close(figure)
    configs = pd.DataFrame(report["per_config"])
    if "held_out_mean" in configs and configs["held_out_mean"].notna().any():
        figure, axis = plt.subplots(figsize=(4.5, 4))
        sns.scatterplot(configs, x="tuning_mean", y="held_out_mean", ax=axis)
        axis.set(xlabel="mean score, tuning seeds", ylabel="mean score, held-out seeds", title="Tuning vs held-out")
        figure.tight_layout()
        for suffix in ("png", "svg"):
            paths.append(out / f"tuning_vs_held_out.{suffix}")
            figure.savefig(paths[-1])
        plt.close(figure)
    return paths
