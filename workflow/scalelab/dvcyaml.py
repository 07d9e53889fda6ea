"""`scalelab dvc-yaml`: write each dvc.yaml stage's code deps (its `.py` deps) from the import
graph (pipeline.code_files) for params.yaml's dataset and families, in place, keeping every other
line (comments, cmd, data deps, params, outs) as written.

DVC cannot compute a module from params (its templating substitutes values; it runs no code), so
dvc.yaml holds the lists literally. They are right for the params.yaml they were written for; when
params.yaml names another dataset or family, a DVC stage would not rerun on an edit of the new
code. So every step run by DVC (which sets DVC_STAGE) first checks that its stage lists all the
code it runs, and stops with one line naming this command if not (check_stage).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scalelab import codedeps, io
from scalelab.errors import ScalelabError
from scalelab.pipeline import code_files, data_files

STAGE = re.compile(r"^  (\w+):\s*(#.*)?$")  # a stage's name, indented under stages:
DEPS = re.compile(r"^(\s+)deps:\s*$")
DERIVED = "  # from params.yaml"  # marks a derived dep that is not a .py file (a trainer's code, a manifest)


def is_code(dep: str) -> bool:
    """A code dep: a Python file (the package's or a plug-in's); the rest are data."""
    return dep.endswith(".py")


def is_derived(line: str) -> bool:
    """A deps line this command writes: a .py file, or any file marked as derived from params.yaml."""
    return line.rstrip().endswith(DERIVED.strip()) or is_code(line.strip().removeprefix("- "))


def is_step(name: str) -> bool:
    return codedeps.module_file(f"scalelab.steps.{name}") is not None


def stage_code(step: str, params: dict, root: str | Path) -> list[str]:
    """A stage's derived deps: its code, and the data files params.yaml names (a manifest). A train
    stage is one family's, but DVC's matrix gives all its stages one list, so it lists every
    family's model and trainer code (each trial's fingerprint holds its own only)."""
    return code_files(step, params, root) + data_files(step, params)


def render(text: str, params: dict, root: str | Path) -> str:
    """dvc.yaml's text with each step stage's code deps replaced by the derived list, at the place
    of the first one (or first under deps:)."""
    lines, out, stage, i = text.splitlines(keepends=True), [], None, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if re.match(r"^\S", line):
            stage = None  # a top-level key ends the stages
        elif match := STAGE.match(line):
            stage = match.group(1)
        elif stage and is_step(stage) and (match := DEPS.match(line)):
            indent = match.group(1) + "  - "
            items = []
            while i < len(lines) and (lines[i].startswith(indent) or lines[i].strip().startswith("#") and lines[i].startswith(match.group(1) + "  ")):
                items.append(lines[i])
                i += 1
            kept = [item for item in items if not _code_item(item, indent)]
            # The derived list goes where the first code dep was (the data deps keep their places).
            first = next((n for n, item in enumerate(items) if _code_item(item, indent)), 0)
            at = sum(1 for item in items[:first] if not _code_item(item, indent))
            out += kept[:at] + [f"{indent}{dep}{'' if is_code(dep) else DERIVED}\n" for dep in stage_code(stage, params, root)] + kept[at:]
    return "".join(out)


def _code_item(line: str, indent: str) -> bool:
    return line.startswith(indent) and is_derived(line[len(indent):])


def stage_deps(path: Path, stage: str) -> list[str]:
    definition = yaml.safe_load(path.read_text())["stages"][stage]
    return list(definition.get("do", definition).get("deps", []))


def check_stage(stage: str, step: str, params: dict, root: str | Path) -> None:
    """Stop if the dvc.yaml stage running `step` (DVC_STAGE, e.g. train@8-mlp, under DVC_ROOT)
    does not list all the code the step runs under this params.yaml: DVC would not rerun it when
    that code changes. Extra files (a family since removed) only rerun it more often, so they pass."""
    file, _, address = stage.rpartition(":")  # a stage of dvc.yaml in a subfolder is addressed sub/dvc.yaml:name
    name = address.split("@", 1)[0]  # foreach/matrix stages: name@item
    path = Path(root) / (file or "dvc.yaml")
    listed = set(stage_deps(path, name))
    missing = [f for f in stage_code(step, params, path.parent) if f not in listed]
    if missing:
        raise ScalelabError(f"{path}: stage {name} does not list {', '.join(missing)}, which it runs for params.yaml, "
                            "so editing them would not rerun it; run `scalelab dvc-yaml` to rewrite its code deps, then `dvc repro`")


def run(params: dict, path: str = "dvc.yaml") -> None:
    target = Path(path)
    old = target.read_text()
    new = render(old, params, target.resolve().parent)
    if new == old:
        print(f"{path}: code deps up to date")
        return
    with io.atomic_path(target) as tmp:
        Path(tmp).write_text(new)
    print(f"{path}: code deps rewritten for {params['data']['dataset']} and {', '.join(params['models'])}")
