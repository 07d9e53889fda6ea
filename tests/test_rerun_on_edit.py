"""Editing any module reruns exactly the steps that import it, under both engines: one tiny study
per engine, then every file of the package edited in turn (a comment appended, then restored).

What "exactly" compares, per engine, as step names (a train job or stage counts as `train`):
- DVC: `dvc status` names the stages whose own deps changed, so its set must equal the steps whose
  derived code (pipeline.code_files for the study's params) holds the module.
- Snakemake: a dry run schedules those steps and everything downstream of them (their inputs will
  change), so its set must equal that set closed under the rule graph (`snakemake --rulegraph`).
The expected sets come from the import graph (code_files), never from a list in this file; a
module no step imports (the CLI, the params loader, the bookkeeping) must rerun nothing.
"""

import contextlib
import os
import re
from pathlib import Path

import pytest
from conftest import ROOT, cli, copy_project, dvc, git_commit, git_project, scheduled_jobs, small_params, snakemake, write_params
from scalelab.pipeline import PACKAGE, STEP_PARAMS, code_files

pytestmark = pytest.mark.slow

MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)



def importers(params: dict) -> dict[str, set[str]]:
    """{module file (relative to the package): the steps whose code holds it}."""
    by_module = {m: set() for m in MODULES}
    for step in STEP_PARAMS:
        for f in code_files(step, params, ROOT):
            by_module[Path(f).relative_to("workflow/scalelab").as_posix()].add(step)
    return by_module


@contextlib.contextmanager
def edited(path: Path):
    """`path` with a comment line appended; afterwards its bytes and modification time as before
    (Snakemake compares times: a restored file must not look newer than the outputs)."""
    before, stat = path.read_bytes(), path.stat()
    path.write_bytes(before + b"\n# edited by test_rerun_on_edit\n")
    try:
        yield
    finally:
        path.write_bytes(before)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def mismatches(study: Path, rerun, expected: dict[str, set[str]]) -> list[str]:
    found = []
    for module in MODULES:
        with edited(study / "workflow/scalelab" / module):
            got = rerun()
        if got != expected[module]:
            found.append(f"{module}: reran {sorted(got)}, expected {sorted(expected[module])}")
    return found


def test_dvc_reruns_exactly_the_stages_whose_step_imports_the_module(tmp_path):
    study = git_project(tmp_path / "study", small_params((8, 9, 10, 11)))
    dvc(study, "repro")
    git_commit(study, "study")

    def rerun() -> set[str]:
        return {name.split("@", 1)[0] for name in re.findall(r"^(\S+):$", dvc(study, "status").stdout, re.M)}

    expected = importers(small_params((8, 9, 10, 11)))
    assert not (bad := mismatches(study, rerun, expected)), "\n".join(bad)
    assert {m for m, steps in expected.items() if not steps} >= {"cli.py", "config.py", "pipeline.py", "curves/simulate.py"}

    # Another dataset: the stages' code deps are stale until `scalelab dvc-yaml` rewrites them.
    params = small_params((8, 9, 10, 11))
    params["data"].update(dataset="digits", val_size=256, test_size=256)  # 1,797 digits: room for a 2^9 pool
    params["shards"]["exponents"] = [7, 8, 9]
    write_params(study, params)
    failed = dvc(study, "repro", "prepare", check=False)
    assert failed.returncode != 0
    message = [line for line in failed.stderr.splitlines() if line.startswith("scalelab: ")]
    assert len(message) == 1 and "stage prepare" in message[0] and "datasets/digits.py" in message[0], failed.stderr[-2000:]
    assert "`scalelab dvc-yaml`" in message[0]
    assert cli("dvc-yaml", cwd=study).returncode == 0
    dvc(study, "repro", "prepare")

    def prepare_reruns() -> bool:
        return "prepare:" in dvc(study, "status", "prepare").stdout

    assert not prepare_reruns()
    with edited(study / "workflow/scalelab/datasets/digits.py"):
        assert prepare_reruns()
    with edited(study / "workflow/scalelab/datasets/mnist1d.py"):
        assert not prepare_reruns()


def test_snakemake_reruns_exactly_the_steps_that_import_the_module_and_their_downstream(tmp_path):
    study = copy_project(tmp_path / "study", small_params((8, 9, 10, 11)))
    snakemake(study)
    assert scheduled_jobs(study) == {}

    graph = snakemake(study, "--rulegraph").stdout
    names = dict(re.findall(r"^\s*(\d+)\[label = \"(\w+)\"", graph, re.M))
    edges = [(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", graph, re.M)]

    def downstream(steps: set[str]) -> set[str]:
        reached = set(steps)
        while new := {b for a, b in edges if a in reached} - reached:
            reached |= new
        return reached & set(STEP_PARAMS)  # not the target rule `all`

    def rerun() -> set[str]:
        return set(scheduled_jobs(study)) & set(STEP_PARAMS)

    expected = {m: downstream(steps) for m, steps in importers(small_params((8, 9, 10, 11))).items()}
    assert downstream({"fit"}) >= {"fit", "figures", "predict"}  # the rule graph was read
    assert not (bad := mismatches(study, rerun, expected)), "\n".join(bad)
