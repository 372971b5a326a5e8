"""The ``hpobench-rl-cl`` command line. Every command is a thin layer over :mod:`hpobench_rl_cl.api`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from .errors import UserError
from .protocol.common import DEFAULT_PROTOCOL


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None


def _config_file(path: str) -> dict[str, Any]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        config = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path}: malformed YAML/JSON: {getattr(error, 'problem', error)}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: a configuration must be a mapping of hyperparameter: value")
    return config


def _fmt(value: float) -> str:
    return f"{value:9.2f}"


def print_summary(summary: dict[str, Any]) -> None:
    if summary.get("comparison_id"):
        print_comparison(summary)
        return
    held_out_scores, budget = summary["held_out"], summary["budget"]
    held_out = summary["held_out_phase"]
    status = summary.get("protocol_status", "official")
    label = "" if status == "official" else "; MODIFIED protocol: not the official benchmark of that name"
    print(f"\nstudy {summary['study_id']}  (protocol hash {summary['protocol_hash']}{label})")
    print(f"{'on the ' + held_out + ' seeds':<22}{'mean':>9}{'IQM':>10}{'std':>10}   tuning score")
    for role in ("hand-tuned", "incumbent"):
        tuning = f"{summary['incumbent']['tuning_score']:.2f}" if role == "incumbent" else "-"
        scores = held_out_scores[role]
        print(f"{role:<22}{_fmt(scores['mean'])} {_fmt(scores['iqm'])} {_fmt(scores['std'])}   {tuning}")
    print(f"budget used: {budget['used_full_runs']:g} of {budget['given_full_runs']:g} full-run equivalents, "
          f"{budget['configurations']} configurations, {budget['tuning_units']:,} tuning {budget['unit'].replace('_', ' ')}, "
          f"{budget['crashed_trials']} crashed trials")
    declared = " (user-declared)" if summary["hand_tuned"].get("declared_by") == "user" else ""
    print(f"hand-tuned source: {summary['hand_tuned']['source']}{declared}")
    if "trained_by" in summary["hand_tuned"]:
        print(f"hand-tuned {held_out} trials: adopted from study {summary['hand_tuned']['trained_by']} "
              "(same protocol, same code, same store)")


def print_comparison(comparison: dict[str, Any]) -> None:
    """A CL protocol's strategies: tuning phase vs evaluation phase, as in the CL paper."""
    for study in comparison["studies"]:
        print_summary(study)
    print(f"\n{comparison['protocol']} ({comparison['scale']}, {comparison['optimizer']}): incumbent of each strategy, "
          "tuning phase (tuning dataset) vs evaluation phase (evaluation dataset)")
    print(f"{'strategy':<14}{'tuning':>9}{'rank':>6}{'evaluation':>12}{'rank':>6}{'shift':>7}{'hand-tuned eval':>17}")
    for row in comparison["strategies"]:
        print(f"{row['strategy']:<14}{row['tuning_score']:>9.2f}{row['tuning_rank']:>6g}{row['evaluation_score']:>12.2f}"
              f"{row['evaluation_rank']:>6g}{row['rank_shift']:>+7g}{row['hand_tuned_evaluation_score']:>17.2f}")
    print(f"Kendall tau, tuning vs evaluation ranks: {comparison['kendall_tau_tuning_vs_evaluation']:.3f} "
          "(1 = the tuning phase ranks the strategies as the evaluation phase does)")


def _add_execution(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="quick", help="smoke | quick | paper (default: quick)")
    parser.add_argument("--workers", type=int, help="parallel trials on a local Dask cluster (default: one per core)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (auto: CUDA only for CNN policies)")
    parser.add_argument("--store", default="runs", help="result store directory (default: runs)")
    parser.add_argument("--results", default="results", help="export directory (default: results)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments are one line naming the problem (and exit 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hpobench-rl-cl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="tune a protocol, then train incumbent and hand-tuned on the held-out seeds")
    run.add_argument("protocol", nargs="?", default=DEFAULT_PROTOCOL, help=f"protocol name or YAML path (default: {DEFAULT_PROTOCOL})")
    run.add_argument("--optimizer", default="random", help="HPO tool (default: random)")
    run.add_argument("--hpo-seed", type=int, default=0)
    run.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://HOST:8786)")
    run.add_argument("--scheduler-file", help="scheduler file of an existing Dask cluster")
    run.add_argument("--study-name", help="study id (default: PROTOCOL-SCALE-OPTIMIZER-sSEED)")
    run.add_argument("--strategy", help="CL protocols: run this strategy's study alone; the comparison takes the "
                                        "other strategies from their exports")
    _add_execution(run)

    commands.add_parser("list", help="shipped protocols and their estimated cost at each scale")

    show = commands.add_parser("show", help="a study's trials, incumbent and test scores")
    show.add_argument("study")
    show.add_argument("--store", default="runs")
    show.add_argument("--json", action="store_true", help="print the whole record as JSON")

    train = commands.add_parser("train", help="a configuration (file or hand-tuned) on a protocol's seeds: a user run")
    train.add_argument("protocol")
    train.add_argument("--config", required=True, help="YAML/JSON file of hyperparameters, or 'hand-tuned'")
    train.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default: the tuning seeds)")
    train.add_argument("--strategy", help="CL protocols: the strategy whose configuration this is")
    train.add_argument("--audit", action="store_true",
                       help="allow your own configuration on held-out seeds, recorded as an audit run")
    _add_execution(train)

    audit = commands.add_parser("audit", help="seed-overfitting audit of a study or a table of scores")
    audit.add_argument("input", help="study id, or CSV/Parquet with config_id, seed, score [, phase, budget, method]")
    audit.add_argument("--store", default="runs", help="result store holding the study (default: runs)")
    audit.add_argument("--out", help="output folder (default: beside the input)")
    audit.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the held-out split")
    verify = commands.add_parser("verify", help="retrain a sample of a study's trials and compare the scores")
    verify.add_argument("target", help="study id (in --store), or an exported study CSV (results/rl/STUDY.csv)")
    verify.add_argument("--sample", type=int, default=3, help="trials per phase, drawn at random (default: 3)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the draw (default: 0)")
    verify.add_argument("--store", default="runs", help="result store holding the study (default: runs)")
    verify.add_argument("--protocol", help="the study's protocol file, when it is not a shipped protocol")
    verify.add_argument("--device", default="auto", help="auto | cpu | cuda")
    reproduce = commands.add_parser("reproduce", help="the RL or CL paper's comparison at a scale")
    reproduce.add_argument("paper", choices=["rl-paper", "cl-paper"])
    reproduce.add_argument("--scale", default="quick", help="smoke | quick | paper (default: quick)")
    reproduce.add_argument("--workers", type=int, help="parallel trials (default: one per core)")
    reproduce.add_argument("--store", default="runs", help="result store directory (default: runs)")
    reproduce.add_argument("--results", default="results", help="export directory (default: results)")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    reproduce.add_argument("--from-results", action="store_true",
                           help="train nothing: write the table again from the studies already under --results")

    leaderboard = commands.add_parser("leaderboard", help="the static leaderboard site")
    leaderboard_commands = leaderboard.add_subparsers(dest="leaderboard_command", required=True)
    build = leaderboard_commands.add_parser("build", help="read results/, write the static site")
    build.add_argument("--results", default="results", help="results folder to read (default: results)")
    build.add_argument("--out", default="leaderboard", help="site folder to write (default: leaderboard)")
    return parser


def _reproduce(args: argparse.Namespace) -> None:
    import pandas as pd

    from . import reproduce

    common = {"workers": args.workers, "store": args.store, "results": args.results, "progress": not args.no_progress,
              "train": not args.from_results}
    if args.paper == "rl-paper":
        table, skipped = reproduce.reproduce_rl_paper(args.scale, **common), []
    else:
        table, skipped = reproduce.reproduce_cl_paper(args.scale, **common)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    for line in skipped:
        print(f"skipped {line}")
    print(f"written: {Path(args.results) / 'reproductions' / f'{args.paper}-{args.scale}'}.csv and .md")


def _leaderboard(args: argparse.Namespace) -> None:
    from .leaderboard import build

    index = build(args.results, args.out)
    print(f"leaderboard written: {index} (open it in a browser; no network needed)")


def _audit(args: argparse.Namespace) -> None:
    from . import api
    from .analysis.report import markdown

    report, paths = api.audit(args.input, store=args.store, out=args.out, seed=args.seed)
    print(markdown(report, str(args.input)))
    print(f"written: {', '.join(str(p) for p in paths)}")


def _run(args: argparse.Namespace) -> None:
    from . import api

    summary = api.run_study(
        args.protocol, scale=args.scale, optimizer=args.optimizer, hpo_seed=args.hpo_seed, workers=args.workers,
        store=args.store, results=args.results, device=args.device, scheduler=args.scheduler,
        scheduler_file=args.scheduler_file, study_name=args.study_name, progress=not args.no_progress,
        strategy=args.strategy,
    )
    print_summary(summary)
    if summary.get("comparison_missing"):
        print(f"no comparison written: it needs every strategy's finished study under {args.results}/cl; "
              f"missing: {', '.join(summary['comparison_missing'])}")


def _list(_: argparse.Namespace) -> None:
    from . import api

    print(f"{'protocol':<18}{'family':<7}" + "".join(f"{s + ' (units, core-h)':>28}" for s in ("smoke", "quick", "paper")))
    for row in api.list_protocols():
        cells = "".join(f"{row[s]['units']:>16,.0f} {row[s]['core_hours']:>10.2f}" for s in ("smoke", "quick", "paper"))
        print(f"{row['name']:<18}{row['family']:<7}{cells}")
    print("units: env steps (RL) or training images (CL, all strategies); core-h: single-core hours estimated from "
          "speeds measured on 2-core machines; divide by --workers")


def _show(args: argparse.Namespace) -> None:
    from . import api

    record = api.show_study(args.study, args.store)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
        return
    print(f"{'phase':<11}{'role':<11}{'seed':>5}{'budget':>9}{'score':>10}  status   config")
    for t in record["trials"]:
        audit = " (audit)" if t["audit"] else ""
        print(f"{t['phase']:<11}{t['role']:<11}{t['seed']:>5}{t['budget']:>9}{t['score']:>10.2f}  "
              f"{t['status']:<8} {t['config_hash']}{audit}")
    if record["summary"]:
        print(f"incumbent: {json.dumps(record['summary']['incumbent']['config'], sort_keys=True)}")
        print_summary(record["summary"])
    elif record["study"]["optimizer"] == "none":
        print("(user runs: configurations trained with `hpobench-rl-cl train`, no tuning)")
    else:
        print("(study not finished: rerun its command to resume it)")


def _train(args: argparse.Namespace) -> None:
    from . import api

    config = "hand-tuned" if args.config == "hand-tuned" else _config_file(args.config)
    outcome = api.train_config(
        args.protocol, config, scale=args.scale, seeds=args.seeds, audit=args.audit, workers=args.workers,
        store=args.store, results=args.results, device=args.device, progress=not args.no_progress,
        strategy=args.strategy,
    )
    label = " AUDIT RUN (not a held-out result)" if outcome["audit"] else ""
    print(f"{outcome['role']} on {outcome['phase']} seeds{label}: mean {outcome['mean']:.2f}, "
          f"IQM {outcome['iqm']:.2f}, std {outcome['std']:.2f}; per seed {outcome['scores']}")


def _verify(args: argparse.Namespace) -> None:
    from .runner.verify import verify

    report = verify(args.target, store=args.store, sample=args.sample, seed=args.seed, protocol_file=args.protocol,
                    device=args.device)
    print(f"{'phase':<11}{'role':<11}{'seed':>6}{'call':>6}{'stored':>12}{'new':>12}  result")
    for row in report["trials"]:
        if row["identical"]:
            outcome = "identical"
        else:
            hardware = {True: "other hardware", False: "same hardware", None: "stored hardware unknown"}
            data = "other data" if row["data_differs"] else "same data"
            outcome = f"differs by {row['difference']:+.6g} ({hardware[row['hardware_differs']]}, {data})"
        print(f"{row['phase']:<11}{row['role']:<11}{row['seed']:>6}{row['call_size']:>6}{row['stored']:>12.4f}"
              f"{row['new']:>12.4f}  {outcome}")
    same = sum(r["identical"] for r in report["trials"])
    print(f"{report['study_id']}: {same} of {len(report['trials'])} retrained trials identical")


_COMMANDS = {"run": _run, "list": _list, "show": _show, "train": _train, "audit": _audit,
             "leaderboard": _leaderboard, "reproduce": _reproduce, "verify": _verify}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a bad argument already printed as one line
        return int(done.code or 0)
    try:
        _COMMANDS[args.command](args)
    except UserError as error:
        print(f"hpobench-rl-cl: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hpobench-rl-cl: interrupted; finished trials are stored, rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
