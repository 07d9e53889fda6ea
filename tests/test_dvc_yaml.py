"""dvc.yaml lists code and params literally (it cannot import Python): it must agree with steps.py,
which the Snakemake rules use, and its matrix must name trials exactly as the steps do."""

import re
import shlex

import pytest
import yaml
from conftest import ROOT, copy_project, dvc, git_project, snakemake, tiny_params

from scalelab import study as study_names
from scalelab.pipeline import STEP_CODE, STEP_PARAMS, code_files

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
# A train stage is one family's batch (`train --all`): it reads that family's grid, which a list in
# steps.py cannot name (the Snakemake rule adds it from its wildcard).
DVC_ONLY_PARAMS = {"train": {"models.${item.family}"}}


def stage(step: str) -> dict:
    definition = DVC_YAML["stages"][step]
    return definition.get("do", definition)  # foreach stages keep theirs under do:


def test_every_step_is_a_stage():
    assert list(DVC_YAML["stages"]) == list(STEP_CODE)


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_code_deps_are_steps_py(step):
    deps = [d for d in stage(step)["deps"] if d.startswith("workflow/")]
    assert sorted(deps) == sorted(code_files(step, root=ROOT)), f"dvc.yaml stage {step}: update its code deps from steps.py"


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_params_are_steps_py(step):
    params = set(stage(step)["params"])
    assert params == set(STEP_PARAMS[step]) | DVC_ONLY_PARAMS.get(step, set()), f"dvc.yaml stage {step}: params drifted from steps.py"


# Arguments one engine passes and the other leaves to the CLI's default: Snakemake gives the audit
# its thread count; DVC runs one stage at a time, so the audit takes one process per core.
SNAKEMAKE_ONLY_ARGS = {"audit": {"--jobs"}}


def arguments(cmd: str) -> dict[str, str | None]:
    """{option: value} of a `scalelab STEP ...` command (None for a flag), with the step as 'step'."""
    words = shlex.split(cmd.split(" 2>")[0])
    assert words[0] == "scalelab", cmd
    args = {"step": words[1]}
    for i, word in enumerate(words[2:], 2):
        if word.startswith("--"):
            value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--") else None
            args[word] = value
    return args


@pytest.fixture(scope="module")
def snakemake_commands(tmp_path_factory):
    """{step: (wildcards, command)} of one job per rule, from Snakemake's dry run of the tiny study."""
    out = snakemake(copy_project(tmp_path_factory.mktemp("commands")), "--dry-run", "--printshellcmds").stdout
    commands, rule, wildcards = {}, None, {}
    for line in out.splitlines():
        if match := re.match(r"\s*rule (\w+):$", line):
            rule, wildcards = match.group(1), {}
        elif match := re.match(r"\s*wildcards: (.*)$", line):
            wildcards = dict(pair.split("=", 1) for pair in match.group(1).split(", "))
        elif line.startswith("Shell command: "):
            commands[rule] = (wildcards, line.removeprefix("Shell command: "))
    return commands


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_runs_the_step(step, snakemake_commands):
    """DVC's stage and Snakemake's job run the same command, argument for argument."""
    wildcards, command = snakemake_commands[step]
    cmd = stage(step)["cmd"].replace("${item}", wildcards.get("k", ""))
    for name, value in wildcards.items():
        cmd = cmd.replace(f"${{item.{name}}}", value)
    by_snakemake, by_dvc = arguments(command), arguments(cmd)
    assert by_snakemake["step"] == by_dvc["step"] == step
    only = SNAKEMAKE_ONLY_ARGS.get(step, set())
    assert only <= set(by_snakemake), f"{step}: SNAKEMAKE_ONLY_ARGS names an argument the rule no longer passes"
    assert {k: v for k, v in by_snakemake.items() if k not in only} == by_dvc, f"{step}: the rule's and the stage's commands differ"


def test_matrix_renders_one_stage_per_shard_and_family_holding_its_trials(tmp_path):
    """Each train stage's out is the folder of one family's trials on one shard, in which
    Snakemake writes each trial: the same paths under both engines."""
    params = tiny_params()
    params["shards"]["exponents"] = [8, 9, 10]
    study = git_project(tmp_path / "study", params)
    listed = dvc(study, "stage", "list").stdout
    rendered = set(re.findall(r"^train@\S+\s+Outputs (\S+)$", listed, re.M))
    assert rendered == {f"results/trials/k{k}/{f}" for k in (8, 9, 10) for f in ("cnn1d", "mlp")}
    assert {t["dir"].rsplit("/", 1)[0] for t in study_names.all_trials(params)} == {r.split("results/trials/")[1] for r in rendered}
    assert set(re.findall(r"^shard@\S+\s+Outputs (\S+)$", listed, re.M)) == {f"data/shards/k{k}" for k in (8, 9, 10)}


def test_lr_folder_names_are_pythons_str_of_the_float():
    """A trial's folder prints its learning rate as str(float) does, the way YAML values read back."""
    assert [study_names.trial_name(8, lr, 0) for lr in (0.01, 0.003, 0.0001, 1.0)] == [
        "w8-lr0.01-s0", "w8-lr0.003-s0", "w8-lr0.0001-s0", "w8-lr1.0-s0"]


@pytest.mark.parametrize("family", sorted(__import__("scalelab.registry", fromlist=["BUILTIN"]).BUILTIN["model"]))
def test_a_train_job_depends_on_every_model_file_its_family_imports(family):
    """A family's module may import helpers (the translators share seq2seq.py): editing one must
    rerun that family's trials, so the train rule lists it (steps.MODEL_HELPERS)."""
    params = {**tiny_params(), "models": {family: {"width": [8], "lr": [0.01]}}}
    files = code_files("train", params, family=family)
    source = (ROOT / "workflow/scalelab/models" / f"{family}.py").read_text()
    for helper in re.findall(r"^from \.(\w+) import", source, flags=re.M):
        assert f"workflow/scalelab/models/{helper}.py" in files
    assert f"workflow/scalelab/models/{family}.py" in files
