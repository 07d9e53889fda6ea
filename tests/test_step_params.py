"""Every step reads only the params.yaml keys steps.STEP_PARAMS declares: the keys whose edit
reruns it under both engines. Each step runs here in-process, on a tiny study, with a params
mapping that holds its declared keys and raises on any other; a read the list misses would let an
edit go unseen (the step's cached outputs kept, though made from the old value)."""

from __future__ import annotations

import copy

import pytest
from conftest import tiny_params

from scalelab.steps import audit, figures, fit as fit_step, predict, prepare, select, shard, train
from scalelab import study
from scalelab.pipeline import STEP_PARAMS

# Reads that change none of a step's outputs, left out of its keys on purpose. store.Store.keeps_final:
# whether a trial on one of the `audit.shards` largest shards keeps its last state in the store for
# the audit to go on from. No trial's bytes depend on it, and declaring the shard list would retrain
# every trial when a shard size is added. (The audit declares shards.exponents: which shards it re-trains.)
NO_OUTPUT_READS = {"train": {"audit.shards", "shards.exponents"}}


class UndeclaredRead(KeyError):
    pass


class Declared(dict):
    """A params section holding only what a step declares; reading anything else raises (and is
    logged in `reads`, in case the step catches the error)."""

    def __init__(self, visible: dict, hidden: set[str], where: str, step: str, reads: list[str]):
        super().__init__(visible)
        self.hidden, self.where, self.step, self.reads = hidden, where, step, reads

    def _check(self, key):
        if key in self.hidden:
            name = f"{self.where}{key}"
            self.reads.append(name)
            raise UndeclaredRead(f"step {self.step} reads params.{name}, which steps.STEP_PARAMS[{self.step!r}] does not declare")

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._check(key)
        return super().get(key, default)

    def __contains__(self, key):
        self._check(key)
        return super().__contains__(key)


def declared_only(params: dict, step: str, keys: set[str], reads: list[str]) -> Declared:
    """params with only `keys` (a section, or section.key) readable; the rest raise UndeclaredRead."""
    top, hidden = {}, set()
    for section, value in params.items():
        wanted = {k.split(".", 1)[1] for k in keys if k.startswith(f"{section}.")}
        if section in keys:
            top[section] = copy.deepcopy(value)
        elif wanted:
            top[section] = Declared({k: copy.deepcopy(v) for k, v in value.items() if k in wanted},
                                    set(value) - wanted, f"{section}.", step, reads)
        else:
            hidden.add(section)
    return Declared(top, hidden, "", step, reads)


def tiny_study_params() -> dict:
    """The tiny study cut to what every step needs: 5 shards, one width per family, 2 seeds, short runs."""
    params = tiny_params()
    params["shards"]["exponents"] = [6, 7, 8, 9, 10]
    params["models"] = {"cnn1d": {"width": [8], "lr": [0.01]}, "mlp": {"width": [16], "lr": [0.01]}}
    params["train"].update(min_steps=20, max_steps=40, patience_min_steps=10, eval_min_steps=5, eval_max_steps=10)
    params["fit"].update(bootstrap=20, jitter=5)
    return params


def steps_of(params: dict, d) -> list[tuple[str, str | None, object]]:
    """(step, family or None, its `run` called on the params given) in pipeline order, in folder d.
    A train job is one family's batch on one shard: one entry per family, for every shard."""
    exponents = params["shards"]["exponents"]

    def train_family(family):
        return lambda p: [train.run_family(p, str(d / "heldout"), str(d / "pool.json"), str(d / f"shards/k{k}"), k, family,
                                           str(d / f"trials/k{k}/{family}"), None) for k in exponents]

    return [
        ("prepare", None, lambda p: prepare.run(p, str(d / "heldout"), str(d / "pool.json"))),
        ("shard", None, lambda p: [shard.run(p, str(d / "pool.json"), k, str(d / f"shards/k{k}")) for k in exponents]),
        *[("train", family, train_family(family)) for family in study.families(params)],
        ("select", None, lambda p: select.run(p, str(d / "trials"), str(d / "tables"))),
        ("audit", None, lambda p: audit.run(p, str(d / "tables/best.csv"), str(d / "heldout"), str(d / "pool.json"),
                                            str(d / "shards"), str(d / "audit"), str(d / "audit.json"), 1, None)),
        ("fit", None, lambda p: fit_step.run(p, str(d / "tables/best.csv"), str(d / "tables/trials.csv"), str(d / "pool.json"),
                                             str(d / "fit.json"), str(d / "fit_samples.csv"), str(d / "audit.json"))),
        ("figures", None, lambda p: figures.run(p, str(d / "tables"), str(d / "fit.json"), str(d / "fit_samples.csv"),
                                                str(d / "figures"))),
        ("predict", None, lambda p: predict.run(p, str(d / "fit.json"), str(d / "fit_samples.csv"), str(d / "tables"),
                                                str(d / "pool.json"), str(d / "predictions.json"), str(d / "summary.md"),
                                                str(d / "metrics.json"), str(d / "cost.json"))),
    ]


def declared_keys(step: str, family: str | None) -> set[str]:
    """The keys `step` may read: its STEP_PARAMS, and a train job its family's grid (the rules add
    models.<family>, test_dvc_yaml.DVC_ONLY_PARAMS)."""
    return set(STEP_PARAMS[step]) | NO_OUTPUT_READS.get(step, set()) | ({f"models.{family}"} if family else set())


@pytest.fixture(scope="module")
def undeclared(tmp_path_factory) -> dict[str, list[str]]:
    """{step: the undeclared keys it read}, each step run on its declared keys only; a step that
    fails so is run again on the whole params, so that the steps after it have their inputs."""
    params = tiny_study_params()
    found = {step: [] for step in STEP_PARAMS}
    for step, family, call in steps_of(params, tmp_path_factory.mktemp("reads")):
        try:
            call(declared_only(params, step, declared_keys(step, family), found[step]))
        except UndeclaredRead:
            call(params)
    return found


def test_every_step_is_run():
    assert list(dict.fromkeys(step for step, _, _ in steps_of(tiny_study_params(), None))) == list(STEP_PARAMS)


@pytest.mark.parametrize("step", list(STEP_PARAMS))
def test_a_step_reads_only_its_declared_params(step, undeclared):
    assert not undeclared[step], (f"step {step} reads {sorted(set(undeclared[step]))}, which steps.STEP_PARAMS[{step!r}] "
                                  "does not declare: declare them (and in dvc.yaml's params) or stop reading them")
