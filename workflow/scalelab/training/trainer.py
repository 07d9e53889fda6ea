"""Your own training code as a trial: a Python function (`trainer: mypkg.train:run`) or any program
(`command: python train.py --indices {indices} ... --out {out}`), run by the train step in place
of scalelab's loop (docs/own-trainer.md).

scalelab hands a trainer the trial (the shard's example indices, validation and test indices,
the hyperparameters, the device, a checkpoint folder that survives preemption) and keeps its
part: the store and fingerprint, history.csv, progress lines, early stopping when the trainer
asks for it (Trial.report), SIGTERM, and a one-line reason when a trial fails. It never loads
the data: that is the trainer's job.

A function is called as `run(trial, **hyperparameters)` and returns its metrics (a dict). A
command runs with every {placeholder} filled (grid keys and FIELDS), its stdout and stderr go to
the trial's trainer.log, and it writes {out}/metrics.json (and may append to {out}/history.csv).
Either way the metrics must hold a finite `val_loss` and `params` (the parameter count: the
model-size law and the tables need it); select also requires the study's metrics (select.metric,
fit.metric). A
failure (an exception, a non-zero exit, a missing, malformed or NaN metric) is a failed trial
with its reason; the study goes on.

Nothing here imports torch: a command trainer never needs it in scalelab's process.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import os
import shlex
import shutil
import signal
import string
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scalelab.errors import ScalelabError

if TYPE_CHECKING:  # annotations only: a command trainer's job needs no numpy import here
    import numpy as np

# The placeholders a command may use besides its grid keys, and what each is filled with.
FIELDS = {
    "indices": "a text file of the shard's example indices (manifest row numbers), one per line",
    "val_indices": "the same for the validation set",
    "test_indices": "the same for the test set",
    "manifest": "the manifest file's absolute path (empty for data.options.examples)",
    "out": "the folder to write metrics.json (and history.csv) into",
    "checkpoint": "a folder kept across preemption: save there, resume from it",
    "device": "cpu or cuda:N, the device scalelab assigned",
    "precision": "train.precision (fp32 or bf16)",
    "seed": "the trial's seed (grid.seed)",
    "k": "the shard's exponent",
    "size": "the shard's number of examples",
    "family": "the family's name under models:",
    "patience_factor": "1, or the convergence audit's factor: multiply your patience and budget by it",
}
HISTORY = ["step", "train_loss", "val_loss", "val_error"]
REQUIRED = ("val_loss", "params")  # in every trainer's metrics; select adds the study's metrics
OUT, CHECKPOINT, LOG = "trainer_out", "checkpoint", "trainer.log"  # in the trial's store folder


class Preempted(Exception):
    """SIGTERM reached the trial: its checkpoint folder stays in the store for the rerun."""


class TrialFailed(Exception):
    """The trainer failed; the message is the one-line reason trials.csv shows."""


class Trial:
    """What your trainer function receives (its hyperparameters come as keyword arguments too).

    indices, val_indices, test_indices  numpy int64 arrays: rows of the manifest to train, validate
                                        and test on (data.options.examples: example numbers)
    manifest        Path of the manifest, or None
    hparams         {grid key: value} of this trial;  seed: the trial's seed
    device          "cpu" or "cuda:N";  precision: "fp32" or "bf16"
    checkpoint_dir  a folder that survives preemption: save there, and resume from it if not empty
    out_dir         a folder for anything else you want kept (the trial store keeps it)
    patience_factor 1, or the convergence audit's factor: scale your own budget by it
    preempted       True once SIGTERM arrived: save a checkpoint and return (or raise)

    report(step, val_loss, train_loss=None, val_error=None) records one evaluation (history.csv,
    a progress line) and returns True when models.<family>.patience evaluations in a row have not
    beaten the best validation loss by train.min_rel_delta: stop then, and keep your best weights.
    """

    def __init__(self, *, family: str, hparams: dict, seed: int, indices: np.ndarray, val_indices: np.ndarray,
                 test_indices: np.ndarray, manifest: str | None, device: str, precision: str, work: Path,
                 patience: int | None, min_rel_delta: float, patience_factor: float = 1, log=None):
        self.family, self.hparams, self.seed = family, dict(hparams), seed
        self.indices, self.val_indices, self.test_indices = indices, val_indices, test_indices
        self.manifest = Path(manifest) if manifest else None
        self.device, self.precision, self.patience_factor = device, precision, patience_factor
        self.out_dir, self.checkpoint_dir = work / OUT, work / CHECKPOINT
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.patience = None if patience is None else math.ceil(patience * patience_factor)
        self.min_rel_delta = min_rel_delta
        self.history_path = work / "history.csv"
        self.history = read_history(self.history_path)  # a resumed trial's evaluations so far
        self.preempted = False
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))

    def log(self, text: str) -> None:
        self._log(text)

    def report(self, step: int, val_loss: float, train_loss: float | None = None, val_error: float | None = None) -> bool:
        # A trainer that resumed from an older checkpoint reports steps again: the new rows replace them.
        self.history = [row for row in self.history if row["step"] < step]
        self.history.append({"step": int(step), "train_loss": train_loss, "val_loss": float(val_loss), "val_error": val_error})
        write_history(self.history_path, self.history)
        best = best_row(self.history)
        self.log(f"step {step:6d}  train_loss {_fmt(train_loss)}  val_loss {_fmt(val_loss)}  val_error {_fmt(val_error)}"
                 f"  best@{best['step'] if best else '-'}")
        return self.patience is not None and bad_evaluations(self.history, self.min_rel_delta) >= self.patience


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def best_row(history: list[dict]) -> dict | None:
    finite = [row for row in history if _finite(row.get("val_loss"))]
    return min(finite, key=lambda row: row["val_loss"]) if finite else None


def bad_evaluations(history: list[dict], min_rel_delta: float) -> int:
    """Evaluations since the validation loss last beat its mark by min_rel_delta (loop.py's rule)."""
    mark, bad = math.inf, 0
    for row in history:
        if _finite(row["val_loss"]) and row["val_loss"] < mark * (1 - min_rel_delta):
            mark, bad = row["val_loss"], 0
        else:
            bad += 1
    return bad


def read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: _number(row.get(key)) for key in HISTORY} for row in csv.DictReader(f)]


def write_history(path: Path, rows: list[dict]) -> None:
    from scalelab import io

    io.write_rows(path, HISTORY, rows)


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- running a trainer ----------------------------------------------------------------------------

def load_function(spec: str, root: str | Path = "."):
    """The function of `module:function` (a file under the study, else an installed module)."""
    from scalelab import registry

    module_name, _, name = spec.partition(":")
    module = registry.load_module(module_name, root)
    return getattr(module, name)


def run_function(function, trial: Trial) -> dict:
    """Call the trainer; SIGTERM sets trial.preempted (the trainer saves and returns)."""
    with _on_sigterm(lambda: setattr(trial, "preempted", True)):
        try:
            result = function(trial, **trial.hparams)
        except Exception as exc:  # the trainer's own failure: the trial fails, the study goes on
            if trial.preempted:
                raise Preempted() from None
            raise TrialFailed(f"{type(exc).__name__}: {_one_line(exc)}") from None
    if trial.preempted:
        raise Preempted()
    return checked(result, "the trainer's return value")


def fill(command: str, fields: dict) -> list[str]:
    """The command's argv with every {placeholder} filled; split first, so a path with spaces
    stays one argument."""
    return [token.format(**fields) for token in shlex.split(command)]


def run_command(command: str, fields: dict, trial: Trial, env: dict | None = None) -> dict:
    """Run the program (with `env` added to this process's environment), its output to
    trainer.log and this job's log; forward SIGTERM to it."""
    argv = fill(command, fields)
    log_path = trial.out_dir.parent / LOG
    (trial.out_dir / "metrics.json").unlink(missing_ok=True)  # an earlier failed attempt's is not this run's
    env = {**os.environ, **(env or {})}
    with open(log_path, "a", encoding="utf-8") as log:
        try:
            # In this job's process group: what kills the job (Snakemake, SLURM) reaches the program too.
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        except OSError as exc:
            raise TrialFailed(f"could not start {argv[0]!r}: {exc.strerror or exc}") from None

        def forward() -> None:
            trial.preempted = True
            proc.send_signal(signal.SIGTERM)

        with _on_sigterm(forward):
            for line in proc.stdout:
                log.write(line)
                log.flush()
                sys.stderr.write(line)
            code = proc.wait()
    if trial.preempted:
        raise Preempted()
    if code != 0:
        raise TrialFailed(f"exit code {code}{_last_line(log_path)}")
    history = trial.out_dir / "history.csv"
    if history.exists():
        trial.history = read_history(history)
        write_history(trial.history_path, trial.history)
    path = trial.out_dir / "metrics.json"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrialFailed(f"no {OUT}/metrics.json: the command must write {{out}}/metrics.json") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrialFailed(f"metrics.json is not valid JSON ({_one_line(exc)})") from None
    return checked(result, "metrics.json")


def checked(result, what: str) -> dict:
    """The trainer's metrics, or TrialFailed naming what is wrong: a dict with a finite val_loss
    and a positive whole `params` (the size law and every table need the model's size)."""
    if not isinstance(result, dict):
        raise TrialFailed(f"{what} is a {type(result).__name__}, not a mapping of metrics")
    for key in REQUIRED:
        if key not in result:
            raise TrialFailed(f"{what} has no {key}")
    if isinstance(result["params"], bool) or not isinstance(result["params"], int) or result["params"] < 1:
        raise TrialFailed(f"{what}: params is {result['params']!r}, not a positive whole number of parameters")
    bad = [key for key, value in result.items() if isinstance(value, float) and not math.isfinite(value)]
    if bad or not _finite(result["val_loss"]):
        raise TrialFailed(f"{what}: {', '.join(bad or ['val_loss'])} is not a finite number")
    return result


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


def _last_line(log_path: Path) -> str:
    lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return f": {lines[-1][:300]}" if lines else ""


class _on_sigterm:
    """Run `action` on SIGTERM while inside; the previous handler is back after."""

    def __init__(self, action):
        self.action = action

    def __enter__(self):
        self.previous = signal.signal(signal.SIGTERM, lambda *_: self.action())
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.previous)


def write_indices(path: Path, indices: np.ndarray) -> None:
    from scalelab import io

    with io.atomic_path(path) as tmp:
        Path(tmp).write_text("".join(f"{int(i)}\n" for i in indices))


# ---- checks before any job starts -----------------------------------------------------------------

def check_family(params: dict, family: str, root: str | Path, source: str = "params.yaml") -> None:
    """One line for a trainer that cannot run: a function that cannot be found or does not take
    a grid key, a command that is not found or has an unknown placeholder, a grid key the
    command never uses, a size knob that is not a grid key. Imports nothing of the trainer's."""
    from scalelab import study

    spec, key = params["models"][family], f"models.{family}"
    kind = study.trainer_kind(params, family)
    grid = study.grid_keys(params, family)
    if "trainer" in spec and "command" in spec or kind and "module" in spec:
        raise ScalelabError(f"{source}: {key}: give one of module:, trainer: or command:, not several")
    if kind is None:
        _check_builtin_family(spec, key, source)
        return
    knob = study.size_key(params, family)
    if knob not in grid:
        raise ScalelabError(f"{source}: {key}.size: '{knob}' is not one of the family's grid keys ({', '.join(grid) or 'none'}); "
                            "name the key that sizes your model, e.g. size: width, and give it a list")
    clash = [k for k in grid if k in FIELDS]
    if clash:
        raise ScalelabError(f"{source}: {key}.{clash[0]}: a grid key may not be named like the field {{{clash[0]}}}; rename it")
    for entry in spec.get("code", []):
        if not (Path(root) / entry).exists():
            raise ScalelabError(f"{source}: {key}.code: '{entry}' not found under {Path(root).resolve()}; "
                                "list your trainer's files or folders relative to the study")
    if kind == "trainer":
        _check_function(spec["trainer"], grid, f"{key}.trainer", root, source)
    else:
        _check_command(spec["command"], grid, f"{key}.command", root, source)


def _check_builtin_family(spec: dict, key: str, source: str) -> None:
    for name in ("width", "lr"):
        if name not in spec:
            raise ScalelabError(f"{source}: {key}.{name}: missing; add it (see the shipped params.yaml)")
    extra = [k for k in spec if k not in ("module", "width", "lr")]
    if extra:
        raise ScalelabError(f"{source}: {key}: '{extra[0]}' is not a setting of a model module family (module, width, lr); "
                            "remove it or fix its spelling (a grid of your own names needs trainer: or command:)")


def _check_function(spec: str, grid: list[str], key: str, root, source: str) -> None:
    from scalelab import registry

    module_name, _, name = spec.partition(":")
    file = registry.module_source(module_name, root)
    if file is None:
        raise ScalelabError(f"{source}: {key}: module '{module_name}' not found (no {module_name.replace('.', '/')}.py under "
                            f"the study, nor an installed module); fix the path, e.g. mypkg.train:run")
    try:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"), filename=str(file))
    except SyntaxError as exc:
        raise ScalelabError(f"{source}: {key}: {file} line {exc.lineno}: not valid Python ({exc.msg}); fix it") from None
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    if not found:
        raise ScalelabError(f"{source}: {key}: {file} has no top-level function '{name}'; define def {name}(trial, **hparams)")
    args = found[-1].args
    if args.kwarg is not None:
        return
    accepted = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs][1:]}
    unknown = [k for k in grid if k not in accepted]
    if unknown:
        raise ScalelabError(f"{source}: {key.rsplit('.', 1)[0]}.{unknown[0]}: {name}() in {file} takes no argument "
                            f"'{unknown[0]}'; add it to its signature (or **hparams), or remove the key")


def _check_command(command: str, grid: list[str], key: str, root, source: str) -> None:
    try:
        tokens = shlex.split(command)
        used = {field for token in tokens for _, field, _, _ in string.Formatter().parse(token) if field is not None}
    except ValueError as exc:
        raise ScalelabError(f"{source}: {key}: cannot parse ({exc}); check its quotes and braces") from None
    for field in sorted(used):
        if field not in grid and field not in FIELDS:
            raise ScalelabError(f"{source}: {key}: placeholder {{{field}}} is neither a grid key of the family "
                                f"({', '.join(grid)}) nor a field scalelab fills ({', '.join(FIELDS)}); fix or remove it")
    unused = [k for k in grid if k not in used]
    if unused:
        raise ScalelabError(f"{source}: {key.rsplit('.', 1)[0]}.{unused[0]}: the command has no {{{unused[0]}}} placeholder, "
                            f"so the trainer would never get it; pass it (e.g. --{unused[0]} {{{unused[0]}}}) or remove the key")
    if "out" not in used:
        raise ScalelabError(f"{source}: {key}: no {{out}} placeholder; the program must be told where to write metrics.json")
    program = tokens[0]
    if shutil.which(program) is None and not (Path(root) / program).is_file():
        raise ScalelabError(f"{source}: {key}: command '{program}' not found on PATH or under the study; "
                            "install it or fix the command")
