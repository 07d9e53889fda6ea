"""One fact, one source. Each fact below is defined in one Python module; the places that cannot
import it (YAML, comments, a file list) are checked against it here, so they cannot drift apart.

- the built-in families and datasets: registry.BUILTIN (every models/ and datasets/ file is the
  code of one of them; a step's code files are derived from imports, see test_codedeps.py, and
  dvc.yaml's are checked against them by test_dvc_yaml.py);
- the law names: laws.LAWS (cli.py reads them);
- the small-data defaults: fit.SMALL_DATA_TOLERANCE and fit.SMALL_DATA_SLOPE (fit-curve and plan.py read them);
- the bootstrap's refit count: fit.BOOTSTRAP (fit_curve, LearningCurve and fit-curve read it);
- bits from nats: study.bits (select's *_bits columns call it).
"""

import re

import pytest
import yaml
from conftest import ROOT

from scalelab import config
from scalelab.curves import fit
from scalelab.curves.laws import LAWS
from scalelab.registry import BUILTIN
from scalelab.pipeline import PACKAGE, code_files

SCHEMA = yaml.safe_load(config.SCHEMA_PATH.read_text())["properties"]
PRESETS = sorted((ROOT / "presets").glob("*.yaml"))
KNOWN = {"model": list(BUILTIN["model"]), "dataset": list(BUILTIN["dataset"]), "law": ["auto", *LAWS]}


def module_file(module: str) -> str:
    return module.removeprefix("scalelab.").replace(".", "/") + ".py"


def comment(path, key: str) -> str | None:
    """The comment of the line that starts with `key` (indentation included) and of the comment-only
    lines under it, joined; None if no line starts so."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(key)), None)
    if start is None:
        return None
    text = [lines[start].partition("#")[2]]
    for line in lines[start + 1:]:
        if not line.lstrip().startswith("#"):
            break
        text.append(line.split("#", 1)[1])
    return " ".join(" ".join(text).split())


def listed(text: str) -> list[str]:
    """The names in an `a (note) | b | c (note)` list."""
    return [name.strip() for name in re.sub(r"\([^)]*\)", "", text).split("|")]


def package_files(folder: str) -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / folder).glob("*.py")}


def code_of(step: str, params: dict, **options) -> set[str]:
    return {f.removeprefix("workflow/scalelab/") for f in code_files(step, params, ROOT, **options)}


def test_every_model_file_is_a_registered_family_or_imported_by_one():
    """Catches a models/ file no built-in family runs (dead, or a family missing from registry.BUILTIN)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {name: {"width": [8], "lr": [0.01]} for name in BUILTIN["model"]}
    used = {f for family in BUILTIN["model"] for f in code_of("train", params, family=family) if f.startswith("models/")}
    assert used == package_files("models"), "models/: a file no registry.BUILTIN family imports"


def test_every_dataset_file_is_a_registered_datasets_code():
    """Catches a datasets/ file no built-in dataset runs, and a BUILTIN entry naming no file."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    used = set()
    for name, module in BUILTIN["dataset"].items():
        code = code_of("prepare", {**params, "data": {**params["data"], "dataset": name}})
        assert module_file(module) in code, f"registry.BUILTIN dataset {name}: {module} has no file"
        used |= {f for f in code if f.startswith("datasets/")}
    assert used == package_files("datasets"), "datasets/: a file no registry.BUILTIN dataset imports"


def named_in_comments(path) -> dict[str, list[str]]:
    """The families, datasets and laws that a params file's comments list, by kind."""
    named = {}
    families = comment(path, "  cnn1d:")
    if families and "a built-in family (" in families:
        named["model"] = re.search(r"a built-in family \(([^)]*)\)", families).group(1).split(", ")
    datasets = comment(path, "  dataset:")
    if datasets and "|" in datasets:
        named["dataset"] = [name for name in listed(datasets) if name != "my.module"]
    law = comment(path, "  law:")
    if law and "|" in law:
        named["law"] = listed(law)
    return named


@pytest.mark.parametrize("kind,source", [("model", "registry.py"), ("dataset", "registry.py"), ("law", "laws.py")])
def test_params_yaml_comments_name_every_one(kind, source):
    named = named_in_comments(ROOT / "params.yaml")
    assert sorted(named.get(kind, [])) == sorted(KNOWN[kind]), f"params.yaml: the comment's {kind}s drifted from {source}"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_comments_name_only_real_ones(path):
    for kind, names in named_in_comments(path).items():
        assert set(names) <= set(KNOWN[kind]), f"presets/{path.name}: a comment names an unknown {kind}"


def test_schema_names_every_builtin_dataset_and_law():
    dataset = SCHEMA["data"]["properties"]["dataset"]["description"]
    named = re.search(r"\(([^)]*)\)", dataset).group(1).split(", ")
    assert sorted(named) == sorted(BUILTIN["dataset"]), "params.schema.yaml data.dataset: its datasets drifted from registry.py"
    law = SCHEMA["fit"]["properties"]["law"]
    assert law["enum"] == ["auto", *LAWS], "params.schema.yaml fit.law: its enum drifted from laws.py"
    assert re.findall(r"\b(\w+)(?: \([^)]*\))?(?:,|$)", law["description"].removeprefix("one of ")) == ["auto", *LAWS]


def test_small_data_defaults_are_fit_pys():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["fit"]
    assert params["small_data_tolerance"] == fit.SMALL_DATA_TOLERANCE, "params.yaml fit.small_data_tolerance drifted from fit.py"
    assert params["small_data_slope"] == fit.SMALL_DATA_SLOPE, "params.yaml fit.small_data_slope drifted from fit.py"
    assert f"< {fit.SMALL_DATA_SLOPE}x" in comment(ROOT / "params.yaml", "  small_data_slope:")
    schema = SCHEMA["fit"]["properties"]
    assert f"e.g. {fit.SMALL_DATA_TOLERANCE}" in schema["small_data_tolerance"]["description"]
    assert f"e.g. {fit.SMALL_DATA_SLOPE}" in schema["small_data_slope"]["description"]


def test_the_bootstrap_default_is_fit_pys():
    """params.yaml lists every key, so it repeats fit.BOOTSTRAP (fit_curve's and fit-curve's default):
    one refit count for a study and for a curve measured elsewhere."""
    assert yaml.safe_load((ROOT / "params.yaml").read_text())["fit"]["bootstrap"] == fit.BOOTSTRAP, \
        "params.yaml fit.bootstrap drifted from BOOTSTRAP in curves/fit.py"
    assert SCHEMA["fit"]["properties"]["bootstrap"]["description"].endswith(f"e.g. {fit.BOOTSTRAP}")


def test_the_plan_takes_the_small_data_defaults_from_fit_py(monkeypatch):
    """plan.py rebuilds the curve in each simulated world; without the caller's settings (`scalelab
    plan --curve`) it must cut the small-data region with fit.py's defaults, not a copy of them
    (it once had 0.15 and 0.5 of its own). Changing fit.py's values must reach it."""
    from scalelab.decisions import plan

    monkeypatch.setattr(fit, "SMALL_DATA_TOLERANCE", 0.3)
    monkeypatch.setattr(fit, "SMALL_DATA_SLOPE", 0.25)
    curve = plan.curve_of([64, 128, 256], [[0.5, 0.52], [0.4, 0.41], [0.3, 0.31]], {"best_guess": 0.9})
    assert (curve.tolerance, curve.slope_ratio) == (0.3, 0.25), "decisions/plan.py: take the small-data defaults from curves/fit.py"
    given = plan.curve_of([64, 128, 256], [[0.5], [0.4], [0.3]], {"tolerance": 0.1, "slope_ratio": 0.6})
    assert (given.tolerance, given.slope_ratio) == (0.1, 0.6)  # the caller's (params.yaml's) win


@pytest.mark.parametrize("module", ["steps/select.py", "steps/audit.py", "study.py"])
def test_bits_from_nats_is_one_function(module):
    """Only study.bits divides by ln 2: a second conversion could drift from it (log2 of a loss, say)."""
    source = (PACKAGE / module).read_text()
    outside = re.sub(r"\ndef bits\(.*?\n(?=\S)", "\n", source, flags=re.S)
    assert not re.search(r"log\(2\)|log2\(|0\.693|1\.442", outside), f"{module}: convert nats to bits with study.bits"


def test_a_loss_is_labelled_by_what_it_is_per_not_by_what_sizes_count():
    """Two facts, two sources: a dataset's UNIT (what sizes count) and its LOSS_PER (what one loss
    value is averaged over). Translation counts pairs and its loss is per target character."""
    import importlib

    from scalelab.steps import figures

    for name, module in BUILTIN["dataset"].items():
        data = importlib.import_module(module)
        if getattr(data, "UNIT", "examples") != "examples":
            assert hasattr(data, "LOSS_PER"), f"datasets/{name}: sizes count {data.UNIT}: say what its loss is per (LOSS_PER)"
    result = {"unit": "pairs", "loss_per": importlib.import_module(BUILTIN["dataset"]["translation"]).LOSS_PER, "metric": "test_bits"}
    assert figures.axis_labels(result) == ("training pairs m", "test bits per target character")


def test_the_figures_are_named_once():
    """pipeline.FIGURES names the figures step's images: the rules read it, dvc.yaml's plots must list
    only those, and the summary embeds only those."""
    from scalelab.pipeline import FIGURES

    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert {p.split("/")[-1].removesuffix(".png") for p in plots} <= set(FIGURES)
    summary = (ROOT / "results" / "summary.md").read_text()
    assert set(re.findall(r"\(figures/(\w+)\.png\)", summary)) == set(FIGURES)


def test_each_step_has_its_rule_module_stage_and_test_by_one_name():
    """The layout is the architecture: a newcomer finds step NAME's rule (workflow/rules/NAME.smk,
    included by the Snakefile), code (scalelab/steps/NAME.py), DVC stage and test (tests/test_NAME.py)
    by the same name. Catches a step added, renamed or split without its counterparts."""
    from scalelab.pipeline import STEP_PARAMS

    snakefile = (ROOT / "Snakefile").read_text()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    modules = {p.stem for p in (PACKAGE / "steps").glob("*.py")} - {"__init__"}
    missing = [f"{step}: {what}" for step in STEP_PARAMS for what, ok in (
        (f"workflow/rules/{step}.smk", (ROOT / "workflow/rules" / f"{step}.smk").is_file()),
        ("its include in the Snakefile", f'include: "workflow/rules/{step}.smk"' in snakefile),
        (f"scalelab/steps/{step}.py", step in modules),
        ("a dvc.yaml stage", step in stages),
        (f"tests/test_{step}.py", (ROOT / "tests" / f"test_{step}.py").is_file())) if not ok]
    assert missing == []
    # ...and every step module is a step (helpers of a step are named after it, like report_sections).
    assert [m for m in modules if m not in STEP_PARAMS and not any(m.startswith(f"{s}_") for s in STEP_PARAMS)] == []
