"""Do the fits' 95% intervals cover the truth, and how far off are their extrapolations?

Draws curves from a known three-region law (plateau at the error of guessing, power law, floor:
the `plateau` law, or M4 with --truth m4) at the default study's sizes (2^7..2^14), observed by 2
seeds with 1-4% log-normal noise each,
and fits each with the pipeline's own code (fit.seed_noise, fit.fit_learning_curve), once per
law asked for. Prints, per law: coverage of the 95% intervals of beta_g and of the predicted
error at 2x, 4x and 8x the largest size, and the median relative error of those predictions.

    python bench/bench_calibration.py                      # 200 curves, 5 laws: about 15 minutes on one core (3 laws: 559 s)
    python bench/bench_calibration.py --curves 40 --laws auto,plateau --truth m4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from scalelab.curves import fit, simulate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--curves", type=int, default=200)
    p.add_argument("--laws", default="auto,plateau,m4,hestness,power")
    p.add_argument("--bootstrap", type=int, default=fit.BOOTSTRAP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truth", default="plateau", choices=simulate.TRUTHS, help="the law the curves are drawn from")
    p.add_argument("--json", help="write the per-law summary here too")
    args = p.parse_args()
    started = time.perf_counter()
    rows = simulate.run(args.curves, args.laws.split(","), seed=args.seed, bootstrap=args.bootstrap, truth_law=args.truth)
    summary = simulate.summarise(rows)
    print(f"{args.curves} curves drawn from the {args.truth} law, sizes 2^7..2^14, 2 seeds, noise 1-4% per seed, {args.bootstrap} bootstrap refits; "
          f"{time.perf_counter() - started:.0f} s")
    print("| law | coverage beta_g | coverage 2x | coverage 4x | coverage 8x | median error 2x | 4x | 8x |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['law']} | {s['cover_beta']:.2f} | {s['cover_2x']:.2f} | {s['cover_4x']:.2f} | {s['cover_8x']:.2f} | "
              f"{s['median_err_2x']:.1%} | {s['median_err_4x']:.1%} | {s['median_err_8x']:.1%} |")
    auto = [r["chosen"] for r in rows if r["law"] == "auto"]
    if auto:
        print("auto chose: " + ", ".join(f"{law} {auto.count(law)}" for law in sorted(set(auto))))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
