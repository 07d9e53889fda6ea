"""The `scalelab` command: one subcommand per pipeline step, called by Snakemake and DVC alike.

Every step takes --params (default params.yaml) and its paths on the command line. The file is
loaded and validated here, once, and each step is handed only its slice: the keys
pipeline.STEP_PARAMS declares for it, so an undeclared read is a KeyError, not an edit that reruns
nothing. Steps write their outputs atomically. Bad input ends with one line,
`scalelab: <what is wrong and how to fix it>`, and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from scalelab.curves.fit import BOOTSTRAP
from scalelab.curves.laws import LAWS
from scalelab.errors import ScalelabError

# The `pipeline` extra of pyproject.toml, each distribution by the name it is imported as. `pip
# install scalelab` gives the curve library alone (numpy, scipy, matplotlib): fit-curve, backtest
# and plan run there; a step that imports one of these says which install it needs.
PIPELINE_IMPORTS = {
    "torch": "torch", "pandas": "pandas", "pyyaml": "yaml", "ruamel.yaml": "ruamel", "jsonschema": "jsonschema",
    "mnist1d": "mnist1d", "scikit-learn": "sklearn", "snakemake": "snakemake", "dvc": "dvc",
    "sacrebleu": "sacrebleu", "espeakng-loader": "espeakng_loader",
}


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e6,1e7, got '{text}'") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scalelab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True, metavar="STEP")

    def step(name: str, help_: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--params", default="params.yaml", help="the study's params file (default: params.yaml)")
        return s

    s = step("check", "validate params.yaml and print the jobs the study implies")
    s = step("dvc-yaml", "rewrite each dvc.yaml stage's code deps from the steps' imports, for params.yaml's dataset and families")
    s.add_argument("--dvc-yaml", default="dvc.yaml")

    s = step("grow", "take one of the plan's steps (more data, seeds or width) by editing params.yaml; "
                     "finished trials are kept, and the current forecasts go to the ledger")
    s.add_argument("what", nargs="?", default="next", choices=["next", "shard", "2shards", "seeds", "wider"],
                   help="next: the plan's first step (default); shard / 2shards: one or two more shards; seeds: more "
                        "seeds; wider: one grid step wider")
    s.add_argument("--cost", default="results/cost.json", help="the plan (predict writes it)")
    s.add_argument("--fit", default="results/fit.json")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--ledger", default="results/ledger.csv")
    s.add_argument("--dry-run", action="store_true", help="print what would change and run; edit nothing")

    s = step("migrate", "accept stable splits for a study made before them (deletes data.pool_size and shards.seed, "
                        "and the old layout's data files)")
    s.add_argument("--data-dir", default="data")

    s = step("prepare", "fix the validation and test sets and describe the dataset")
    s.add_argument("--heldout-dir", default="data/heldout")
    s.add_argument("--info", default="data/pool.json")

    s = step("shard", "write one shard's examples: the pool's first base**k (nested and stable across sizes)")
    s.add_argument("--k", type=int, required=True, help="exponent: shard size is base**k")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--out-dir", required=True, help="the shard's folder (data/shards/k<k>)")

    s = step("train", "train every trial of a family on one shard (--all; or one trial) with early stopping")
    s.add_argument("--k", type=int, required=True)
    s.add_argument("--family", required=True, help="a family named under models: in params.yaml")
    s.add_argument("--width", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--all", action="store_true",
                   help="train every trial params.yaml gives the family on this shard, each in OUT_DIR/<trial>, in one process")
    s.add_argument("--heldout-dir", default="data/heldout")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--shard", required=True, help="the shard's folder (data/shards/k<k>)")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--store", default=".scalelab/trials",
                   help="where trials train and stay once finished, by fingerprint, out of the engines' reach: "
                        "a rerun copies them instead of training again ('' for none; default: %(default)s)")

    s = step("select", "tabulate every trial and pick the best per shard")
    s.add_argument("--trials-dir", default="results/trials")
    s.add_argument("--out-dir", default="results/tables")

    s = step("audit", "re-train each family's best configuration on the largest shards with more patience and budget")
    s.add_argument("--best", default="results/tables/best.csv")
    s.add_argument("--heldout-dir", default="data/heldout")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--shards-dir", default="data/shards")
    s.add_argument("--out-dir", default="results/audit", help="where the re-trained trials go")
    s.add_argument("--out", default="results/audit.json")
    s.add_argument("--jobs", type=_positive, help="re-trainings at once (default: one per core on CPU, 1 on a GPU)")
    s.add_argument("--store", default=".scalelab/trials",
                   help="train's trial store: each re-training goes on from where the original run stopped, when "
                        "the store has its last state ('' to train from the start; default: %(default)s)")

    s = step("fit", "fit the learning curve and the model-size law")
    s.add_argument("--best", default="results/tables/best.csv")
    s.add_argument("--trials", default="results/tables/trials.csv", help="every trial: the seeds behind each point")
    s.add_argument("--audit", default="results/audit.json", help="the convergence audit, carried into fit.json")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--out", default="results/fit.json")
    s.add_argument("--samples", default="results/fit_samples.csv", help="where the bootstrap rows go (figures and predict read them)")

    s = sub.add_parser("fit-curve", help="fit a learning curve measured elsewhere (CSV with size,error)")
    s.add_argument("points", help="CSV with columns size,error (extra columns are ignored)")
    s.add_argument("--out", required=True, help="where to write the fit JSON")
    s.add_argument("--predict", type=_floats, default=[], help="sizes to predict the error at, e.g. 1e6,1e7")
    s.add_argument("--best-guess", type=float, default=None, help="error of guessing (e.g. 0.9 for 10 classes); helps find the small-data region")
    s.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help="bootstrap refits for the 95%% intervals (default %(default)s, as the pipeline's fit.bootstrap)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--min-points", type=int, default=3)
    s.add_argument("--law", default="auto", choices=["auto", *LAWS],
                   help="the law to report (default auto: the best backtest)")

    s = sub.add_parser("backtest", help="print how well each law predicts the largest sizes of a curve (CSV with size,error)")
    s.add_argument("points", help="CSV with columns size,error; several rows per size (seeds) give the noise")
    s.add_argument("--best-guess", type=float, default=None, help="error of guessing (e.g. 0.9 for 10 classes)")

    s = step("figures", "draw the learning-curve, model-size, backtest and cost figures")
    s.add_argument("--tables-dir", default="results/tables")
    s.add_argument("--fit", default="results/fit.json")
    s.add_argument("--samples", default="results/fit_samples.csv", help="the fit's bootstrap rows")
    s.add_argument("--cost", default="results/cost.json", help="the cost laws predict fitted (the cost figure draws them)")
    s.add_argument("--out-dir", default="results/figures")

    s = step("predict", "predictions, their costs and the next experiment")
    s.add_argument("--fit", default="results/fit.json")
    s.add_argument("--samples", default="results/fit_samples.csv", help="the fit's bootstrap rows")
    s.add_argument("--tables-dir", default="results/tables")
    s.add_argument("--info", default="data/pool.json")
    s.add_argument("--out", default="results/predictions.json")
    s.add_argument("--cost", default="results/cost.json",
                   help="costs, cost laws and the next-experiment plan (rest on wall-clock seconds)")

    s = step("report", "the summary page and the headline metrics, from what fit and predict wrote")
    s.add_argument("--fit", default="results/fit.json")
    s.add_argument("--predictions", default="results/predictions.json")
    s.add_argument("--cost", default="results/cost.json")
    s.add_argument("--best", default="results/tables/best.csv")
    s.add_argument("--info", default="data/pool.json", help="the pool the ledger's forecasts were made on")
    s.add_argument("--ledger", default="results/ledger.csv",
                   help="the forecast ledger (`scalelab ledger`), checked against this run's measurements; read, never "
                        "written; a missing file is an empty ledger (default: %(default)s)")
    s.add_argument("--summary", default="results/summary.md")
    s.add_argument("--metrics", default="results/metrics.json", help="headline numbers, flat for `dvc metrics diff`")

    s = sub.add_parser("ledger", help="record the current fit's forecasts at the sizes a growth step adds (2x and 4x the "
                       "largest shard) in the forecast ledger, for a later run to check",
                       description="Append the fit's forecasts (every family) to the ledger, skipping those it holds "
                       "already, and print the rows added. Commit the ledger: predict checks it once a run measures "
                       "those sizes.")
    s.add_argument("--fit", default="results/fit.json")
    s.add_argument("--info", default="data/pool.json", help="the pool the forecasts are made on")
    s.add_argument("--ledger", default="results/ledger.csv")

    s = sub.add_parser("plan", help="rank the next experiments by how much each narrows the headline interval per unit of cost")
    s.add_argument("--cost", default="results/cost.json", help="a finished study's cost.json (written by predict)")
    s.add_argument("--curve", help="a `fit-curve` output instead: the plan is computed for it, costed in examples processed")
    s.add_argument("--multiplier", type=float, default=4.0, help="with --curve: the headline is the error at this many "
                   "times the largest size (default 4)")
    s.add_argument("--out", help="also write the ranking as JSON here")
    return p


def dispatch(args: argparse.Namespace) -> None:
    # Import only the step that runs: `import torch` costs a second, and only the steps that build
    # models (train, audit, predict) need it.
    if args.step == "fit-curve":
        from scalelab.curves import measured as measured_curve
        measured_curve.run(args.points, args.out, args.predict, args.best_guess, args.bootstrap, args.seed, args.min_points, args.law)
        return
    if args.step == "backtest":
        from scalelab.curves import measured as measured_curve
        print(measured_curve.backtest_table(args.points, args.best_guess))
        return
    if args.step == "plan":
        from scalelab.decisions import plan
        plan.run(args.cost, args.curve, args.multiplier, args.out)
        return
    if args.step == "ledger":
        from scalelab.decisions import ledger
        ledger.run(args.fit, args.info, args.ledger)
        return

    if args.step == "grow":
        from scalelab import grow
        grow.run(args.params, args.what, args.cost, args.fit, args.info, args.ledger, args.dry_run)
        return
    if args.step == "migrate":
        from scalelab import grow
        grow.migrate(args.params, args.data_dir)
        return

    from scalelab import config
    from scalelab.pipeline import STEP_PARAMS, params_slice

    # Loaded and validated once, here; each step gets only its slice. Whether the data can fill
    # the shards is checked where it is read (a manifest can be large), not again in every job.
    params = config.load(args.params, check_data=args.step in ("check", "prepare", "shard", "dvc-yaml"))
    if os.environ.get("DVC_STAGE") and os.environ.get("DVC_ROOT"):
        # Run by `dvc repro`: its stage must list the code this step runs for these params (dvcyaml.py).
        from scalelab import dvcyaml
        if dvcyaml.is_step(args.step):
            dvcyaml.check_stage(os.environ["DVC_STAGE"], args.step, params, os.environ["DVC_ROOT"])
    if args.step == "train" and args.family not in params["models"]:
        raise ScalelabError(f"--family {args.family}: not a family under models: in {args.params}; "
                            f"use one of {', '.join(params['models'])}")
    if args.step in STEP_PARAMS:  # a step gets only its slice; train its own family's too
        mine = params_slice(args.step, params, args.family if args.step == "train" else None)
    if args.step == "dvc-yaml":
        from scalelab import dvcyaml
        dvcyaml.run(params, args.dvc_yaml)
    elif args.step == "check":
        from scalelab import check
        check.run(params, args.params)
    elif args.step == "prepare":
        from scalelab.steps import prepare
        prepare.run(mine, args.heldout_dir, args.info)
    elif args.step == "shard":
        from scalelab.steps import shard
        shard.run(mine, args.info, args.k, args.out_dir)
    elif args.step == "train":
        from scalelab.steps import train
        if args.all:
            train.run_family(mine, args.heldout_dir, args.info, args.shard, args.k, args.family, args.out_dir, args.store)
        elif None in (args.width, args.lr, args.seed):
            raise ScalelabError("train: give --width, --lr and --seed for one trial, or --all for every trial of the family")
        else:
            train.run(mine, args.heldout_dir, args.info, args.shard, args.k, args.family, {"width": args.width, "lr": args.lr},
                      args.seed, args.out_dir, args.store)
    elif args.step == "select":
        from scalelab.steps import select
        select.run(mine, args.trials_dir, args.out_dir)
    elif args.step == "audit":
        from scalelab.steps import audit
        audit.run(mine, args.best, args.heldout_dir, args.info, args.shards_dir, args.out_dir,
                  args.out, args.jobs, args.store)
    elif args.step == "fit":
        from scalelab.steps import fit as fit_step
        fit_step.run(mine, args.best, args.trials, args.info, args.out, args.samples, args.audit)
    elif args.step == "figures":
        from scalelab.steps import figures
        figures.run(mine, args.tables_dir, args.fit, args.samples, args.cost, args.out_dir)
    elif args.step == "predict":
        from scalelab.steps import predict
        predict.run(mine, args.fit, args.samples, args.tables_dir, args.info, args.out, args.cost)
    elif args.step == "report":
        from scalelab.steps import report
        report.run(mine, args.fit, args.predictions, args.cost, args.best, args.info,
                   args.ledger, args.summary, args.metrics)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dispatch(args)
    except ScalelabError as exc:
        print(f"scalelab: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in PIPELINE_IMPORTS.values():
            raise  # a bug, not a missing install
        print(f"scalelab {args.step} needs the pipeline: pip install 'scalelab[pipeline]'", file=sys.stderr)
        return 2
    except OSError as exc:
        # A full disk, a read-only or vanished folder: outputs are written to a temporary file and
        # renamed only when complete (io.atomic_path), so nothing half-written looks finished.
        fix = FS_FIXES.get(exc.errno, "fix it and rerun")
        print(f"scalelab: {exc.filename or 'writing'}: {exc.strerror or exc}; {fix}", file=sys.stderr)
        return 2
    return 0


FS_FIXES = {
    errno.ENOSPC: "the disk is full: free space (or move the study) and rerun; no partial output was kept",
    errno.EDQUOT: "the disk quota is used up: free space and rerun; no partial output was kept",
    errno.EROFS: "the file system is read-only: run the study where it can write",
    errno.EACCES: "permission denied: run the study where you can write",
}


if __name__ == "__main__":
    sys.exit(main())
