"""`scalelab grow`: take one of the plan's steps by editing params.yaml, so that the next
`snakemake --cores all` or `dvc repro` runs exactly that step and nothing before it again.

The steps are the plan's (plan.py, cost.json):
    shard     one more shard: the next exponent (2x the largest shard for base 2)
    2shards   two more shards (2x and 4x)
    seeds     plan.EXTRA_SEEDS more seeds (grid.seed) for every trial
    wider     one grid step wider than the primary family's widest model
    next      whichever the plan ranked first (the default)

Before it edits, it records the current fit's forecasts in the ledger (ledger.py): the forecast
at the sizes this growth will measure is then checked on the answer page once they are.
params.yaml is edited in place with its comments kept (ruamel.yaml round trip, as `dvc exp run
-S` does), and the lists it touches are written in block style so `dvc params diff` stays clean.
The edit is validated before anything is written.
"""

from __future__ import annotations

import io as _io
from pathlib import Path

from scalelab import config, io, study
from scalelab.decisions.plan import EXTRA_SEEDS
from scalelab.errors import ScalelabError

STEPS = {"shard": "one more shard", "2shards": "two more shards", "seeds": f"{EXTRA_SEEDS} more seeds",
         "wider": "a wider model"}


def roundtrip():
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, key order and styles survive
    yaml.width = 4096  # never re-wrap a long comment
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def read_roundtrip(path: str | Path):
    try:
        return roundtrip().load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScalelabError(f"{path}: not found; run from the study directory or pass --params PATH") from None


def write_roundtrip(path: str | Path, doc) -> None:
    buffer = _io.StringIO()
    roundtrip().dump(doc, buffer)
    io.write_text(path, buffer.getvalue())


def _append(seq, values: list) -> None:
    """Append to a list in block style (a flow list such as [0, 1] is turned into a block one).
    Blank lines after the old last item (before the next section) move after the new one; a
    comment on it stays with it."""
    last = len(seq) - 1
    trailing = seq.ca.items.get(last)
    blank = trailing is not None and trailing[0] is not None and not trailing[0].value.strip()
    if blank:
        del seq.ca.items[last]
    seq.extend(values)
    if blank:
        seq.ca.items[len(seq) - 1] = trailing
    seq.fa.set_block_style()


def apply(doc, step: str) -> str:
    """Edit the round-trip document for `step`; returns what it did, in words."""
    if step in ("shard", "2shards"):
        exponents = [int(k) for k in doc["shards"]["exponents"]]
        new = [max(exponents) + i for i in (1, 2)[:1 if step == "shard" else 2]]
        _append(doc["shards"]["exponents"], new)
        base = int(doc["shards"]["base"])
        return f"shards.exponents gains {', '.join(map(str, new))} (m = {', '.join(f'{base**k:,}' for k in new)})"
    if step == "seeds":
        seeds = [int(s) for s in doc["grid"]["seed"]]
        new = [max(seeds) + i for i in range(1, EXTRA_SEEDS + 1)]
        _append(doc["grid"]["seed"], new)
        return f"grid.seed gains {', '.join(map(str, new))}"
    if step == "wider":
        family = next(iter(doc["models"]))
        knob = doc["models"][family].get("size", "width")  # a trainer's size knob (study.size_key)
        widths = sorted(int(w) for w in doc["models"][family][knob])
        ratio = widths[-1] / widths[-2] if len(widths) > 1 else 2.0
        wider = int(round(widths[-1] * ratio))
        _append(doc["models"][family][knob], [wider])
        return f"models.{family}.{knob} gains {wider}"
    raise ScalelabError(f"grow: unknown step '{step}'; use one of next, {', '.join(STEPS)}")


def planned(cost_json: str | Path) -> dict:
    """The plan's rows by step name ({} before a study has finished)."""
    path = Path(cost_json)
    if not path.exists():
        return {}
    plan = io.read_json(path)["plan"]
    return {row["step"]: {**row, "unit": plan["unit"]} for row in plan["rows"]}


def pick(step: str, plan: dict) -> str:
    """`next` is the plan's first step; without a plan, one more shard."""
    if step != "next":
        return step
    if not plan:
        return "shard"
    first = min(plan.values(), key=lambda r: r["rank"])["step"]
    return next((s for s, name in STEPS.items() if name == first), "shard")


def new_work(before: dict, after: dict) -> tuple[list[int], list[dict]]:
    """The shards and trials `after` has that `before` does not: what the engines will run."""
    old = {(t["k"], t["family"], t["name"]) for t in study.all_trials(before)}
    shards = sorted(set(after["shards"]["exponents"]) - set(before["shards"]["exponents"]))
    return shards, [t for t in study.all_trials(after) if (t["k"], t["family"], t["name"]) not in old]


def run(params_path: str, step: str, cost_json: str, fit_json: str, info_json: str, ledger_csv: str,
        dry_run: bool = False) -> dict:
    before = config.load(params_path)
    plan = planned(cost_json)
    chosen = pick(step, plan)
    doc = read_roundtrip(params_path)
    did = apply(doc, chosen)
    after = config.validate(_plain(doc), params_path)  # a growth past what the dataset holds stops here
    shards, trials = new_work(before, after)
    row = plan.get(STEPS[chosen])
    lines = [f"grow: {STEPS[chosen]}: {did}",
             f"  will run: {len(shards)} shard job(s), {len(trials)} new trial(s) "
             f"({', '.join(sorted({t['family'] for t in trials})) or 'none'}), then select, audit, fit, predict, figures, report; "
             f"every finished trial is kept"]
    if row:
        lines.append(f"  the plan's estimate: {row['cost']:.3g} {row['unit']}; the headline interval would span a factor "
                     f"{row['width_factor']:.2f}")
    if dry_run:
        lines.append("  (dry run: params.yaml not changed)")
    else:
        recorded = _record_forecasts(fit_json, info_json, ledger_csv)
        write_roundtrip(params_path, doc)
        if recorded:
            lines.append(f"  ledger: {recorded} forecast(s) recorded in {ledger_csv}, checked once their sizes are measured")
        lines.append("  now run: snakemake --cores all   (or: dvc repro)")
    print("\n".join(lines))
    return {"step": chosen, "did": did, "shards": shards, "trials": len(trials)}


def _record_forecasts(fit_json: str, info_json: str, ledger_csv: str) -> int:
    """The current fit's forecasts into the ledger; nothing to record before a first fit."""
    if not (Path(fit_json).exists() and Path(info_json).exists()):
        return 0
    from scalelab.decisions import ledger

    return len(ledger.record(fit_json, info_json, ledger_csv))


def _plain(doc) -> dict:
    """The round-trip document as plain dicts and lists, for validation."""
    import yaml

    buffer = _io.StringIO()
    roundtrip().dump(doc, buffer)  # dumping leaves the document as it was
    return yaml.safe_load(buffer.getvalue())


def migrate(params_path: str, data_dir: str = "data") -> list[str]:
    """`scalelab migrate`: accept stable splits for a study made before them by deleting the keys
    of the old layout (config.LEGACY_KEYS) from params.yaml, comments kept, and the old layout's
    data files (pool.OLD_LAYOUT: derived data, remade by the next run). The next run prepares the
    new held-out sets and shards and trains every trial on them."""
    from scalelab.pool import old_layout

    stale = old_layout(data_dir)
    for path in stale:
        path.unlink()
    if stale:
        print(f"migrate: deleted {len(stale)} file(s) of the old data layout in {data_dir}/")
    doc = read_roundtrip(params_path)
    removed = config.legacy_keys(doc)
    for name in removed:
        section, key = name.split(".")
        del doc[section][key]
    if removed:
        write_roundtrip(params_path, doc)
        config.load(params_path)
        print(f"migrate: removed {', '.join(removed)} from {params_path}; the next run draws the stable splits and "
              f"trains every trial on them (snakemake --cores all, or dvc repro)")
    elif not stale:
        print(f"migrate: {params_path} and {data_dir}/ hold nothing of the old layout; nothing to do")
    return removed
