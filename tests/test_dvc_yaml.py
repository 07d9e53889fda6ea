"""dvc.yaml lists code and params literally (it cannot import Python): its code deps must be the
ones derived from the steps' imports for params.yaml (pipeline.code_files, which the Snakemake rules
use; `scalelab dvc-yaml` writes them), its params pipeline.py's, and its matrix must name trials
exactly as the steps do."""

import re
import shlex

import pytest
import yaml
from conftest import ROOT, copy_project, dvc, git_project, snakemake, tiny_params

from scalelab import dvcyaml
from scalelab import study as study_names
from scalelab.errors import ScalelabError
from scalelab.pipeline import STEP_PARAMS, code_files

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# A train stage is one family's batch (`train --all`): it reads that family's grid, which a list in
# pipeline.STEP_PARAMS cannot name (the Snakemake rule adds it from its wildcard).
DVC_ONLY_PARAMS = {"train": {"models.${item.family}"}}


def stage(step: str) -> dict:
    definition = DVC_YAML["stages"][step]
    return definition.get("do", definition)  # foreach stages keep theirs under do:


def test_every_step_is_a_stage():
    assert list(DVC_YAML["stages"]) == list(STEP_PARAMS)


@pytest.mark.parametrize("step", list(STEP_PARAMS))
def test_stage_code_deps_are_the_derived_ones(step):
    """Catches a dvc.yaml whose code deps drifted from the steps' imports (a module added to a
    step, or params.yaml's dataset changed, without `scalelab dvc-yaml`)."""
    deps = [d for d in stage(step)["deps"] if dvcyaml.is_code(d)]
    assert deps == code_files(step, PARAMS, ROOT), f"dvc.yaml stage {step}: its code deps drifted; run `scalelab dvc-yaml`"


def test_dvc_yaml_is_what_scalelab_dvc_yaml_writes():
    """Catches a hand edit of the code deps (order included) that `scalelab dvc-yaml` would undo."""
    text = (ROOT / "dvc.yaml").read_text()
    assert dvcyaml.render(text, PARAMS, ROOT) == text, "dvc.yaml: run `scalelab dvc-yaml`"


def test_another_dataset_rewrites_only_the_data_stages_code_lines():
    """Catches a rewrite that loses comments, data deps or other stages' lines, or that keeps the
    old dataset's module: text_chars runs datasets/text.py (its own import) and not mnist1d.py."""
    text = (ROOT / "dvc.yaml").read_text()
    params = {**PARAMS, "data": {**PARAMS["data"], "dataset": "text_chars"}}
    new = dvcyaml.render(text, params, ROOT)
    removed = [line for line in text.splitlines() if line not in new.splitlines()]
    added = [line for line in new.splitlines() if line not in text.splitlines()]
    assert {line.strip() for line in removed} == {"- workflow/scalelab/datasets/mnist1d.py"}
    assert {line.strip() for line in added} == {"- workflow/scalelab/datasets/text.py", "- workflow/scalelab/datasets/text_chars.py"}
    assert len(new.splitlines()) == len(text.splitlines()) + 2 * 1  # prepare and shard: +2 -1 each
    for step in ("prepare", "shard"):
        deps = yaml.safe_load(new)["stages"][step]
        deps = deps.get("do", deps)["deps"]
        assert [d for d in deps if dvcyaml.is_code(d)] == code_files(step, params, ROOT)
        assert [d for d in deps if not dvcyaml.is_code(d)] == [d for d in stage(step)["deps"] if not dvcyaml.is_code(d)]


def test_a_stale_stage_stops_with_one_line_naming_the_fix():
    """Catches DVC running a stage whose code deps belong to another dataset (an edit of the new
    dataset's module would then never rerun it): the step stops first and says what to run."""
    params = {**PARAMS, "data": {**PARAMS["data"], "dataset": "digits"}}
    with pytest.raises(ScalelabError) as error:
        dvcyaml.check_stage("shard@8", "shard", params, ROOT)  # ROOT's dvc.yaml: written for mnist1d
    message = str(error.value)
    assert "\n" not in message and "stage shard" in message and "`scalelab dvc-yaml`" in message
    assert "datasets/digits.py" in message and "datasets/mnist1d.py" not in message
    dvcyaml.check_stage("shard@8", "shard", PARAMS, ROOT)  # the committed params: nothing to say
    dvcyaml.check_stage("train@8-mlp", "train", PARAMS, ROOT)  # a matrix stage lists every family's code
    dvcyaml.check_stage("train@8-mlp", "train", {**PARAMS, "models": {"mlp": PARAMS["models"]["mlp"]}}, ROOT)  # extra code: reruns more, passes
    with pytest.raises(ScalelabError, match="models/lstm.py"):
        dvcyaml.check_stage("train@8-lstm", "train", {**PARAMS, "models": {"lstm": PARAMS["models"]["mlp"]}}, ROOT)


@pytest.mark.parametrize("step", list(STEP_PARAMS))
def test_stage_params_are_steps_py(step):
    params = set(stage(step)["params"])
    assert params == set(STEP_PARAMS[step]) | DVC_ONLY_PARAMS.get(step, set()), f"dvc.yaml stage {step}: params drifted from pipeline.STEP_PARAMS"


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


@pytest.mark.parametrize("step", list(STEP_PARAMS))
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
    assert [study_names.trial_name({"width": 8, "lr": lr}, 0) for lr in (0.01, 0.003, 0.0001, 1.0)] == [
        "w8-lr0.01-s0", "w8-lr0.003-s0", "w8-lr0.0001-s0", "w8-lr1.0-s0"]


@pytest.mark.parametrize("family", sorted(__import__("scalelab.registry", fromlist=["BUILTIN"]).BUILTIN["model"]))
def test_a_train_job_depends_on_every_model_file_its_family_imports(family):
    """A family's module may import helpers (the translators share seq2seq.py): editing one must
    rerun that family's trials, so the train rule lists it (derived from the relative import)."""
    params = {**tiny_params(), "models": {family: {"width": [8], "lr": [0.01]}}}
    files = code_files("train", params, family=family)
    source = (ROOT / "workflow/scalelab/models" / f"{family}.py").read_text()
    for helper in re.findall(r"^from \.(\w+) import", source, flags=re.M):
        assert f"workflow/scalelab/models/{helper}.py" in files
    assert f"workflow/scalelab/models/{family}.py" in files
