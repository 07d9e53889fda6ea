"""`scalelab grow` edits params.yaml the way a person would: only the lines of the step taken are
added, every comment stays, the lists it touches are block style (a clean `dvc params diff`), and
it says what will run."""

import difflib
import shutil

import pytest
import yaml
from conftest import ROOT, cli

EXPONENTS = yaml.safe_load((ROOT / "params.yaml").read_text())["shards"]["exponents"]


def added_lines(before: str, after: str) -> list[str]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    assert not [line for line in diff if line.startswith("-") and not line.startswith("---")], "grow removed a line"
    return [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]


@pytest.mark.parametrize("step, lines, says", [
    ("shard", [f"  - {max(EXPONENTS) + 1}"], "1 shard job(s), 18 new trial(s)"),
    ("2shards", [f"  - {max(EXPONENTS) + 1}", f"  - {max(EXPONENTS) + 2}"], "2 shard job(s), 36 new trial(s)"),
    ("seeds", ["  - 2", "  - 3"], f"0 shard job(s), {2 * 9 * len(EXPONENTS)} new trial(s)"),
    ("wider", ["    - 256"], f"0 shard job(s), {2 * len(EXPONENTS)} new trial(s) (cnn1d)"),
])
def test_each_step_adds_only_its_lines(tmp_path, step, lines, says):
    """Catches an edit that rewrites the file (comments lost, flow style, reordered keys), that
    lands in the wrong list or after the blank line before the next section, or a wrong count of
    what will run (the new shard's trials: 3 CNN + 6 MLP configs x 2 seeds)."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    before = (tmp_path / "params.yaml").read_text()
    proc = cli("grow", step, "--params", str(tmp_path / "params.yaml"), "--cost", str(tmp_path / "none.json"),
               "--fit", str(tmp_path / "none.json"), "--ledger", str(tmp_path / "ledger.csv"))
    assert proc.returncode == 0, proc.stderr
    assert says in proc.stdout
    after = (tmp_path / "params.yaml").read_text()
    assert added_lines(before, after) == lines
    assert not (tmp_path / "ledger.csv").exists()  # no fit yet: nothing to record


def test_a_flow_list_becomes_block_style_and_a_dry_run_writes_nothing(tmp_path):
    shutil.copy(ROOT / "presets" / "charlm.yaml", tmp_path / "params.yaml")
    before = (tmp_path / "params.yaml").read_text()
    assert "seed: [0]" in before
    dry = cli("grow", "seeds", "--dry-run", "--params", str(tmp_path / "params.yaml"), "--cost", str(tmp_path / "none.json"))
    assert dry.returncode == 0 and "dry run" in dry.stdout and (tmp_path / "params.yaml").read_text() == before
    assert cli("grow", "seeds", "--params", str(tmp_path / "params.yaml"), "--cost", str(tmp_path / "none.json"),
               "--fit", str(tmp_path / "none.json")).returncode == 0
    grid = (tmp_path / "params.yaml").read_text().split("\ngrid:")[1].split("\n\n")[0]
    assert "  - 0\n  - 1\n  - 2\n" in grid and "[0" not in grid


def test_next_takes_the_plans_first_step(tmp_path):
    """Catches `next` ignoring the ranking in cost.json (the committed study's plan ranks one more shard first)."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    proc = cli("grow", "--dry-run", "--params", str(tmp_path / "params.yaml"), "--cost", str(ROOT / "results/cost.json"))
    assert proc.returncode == 0 and proc.stdout.startswith("grow: one more shard:") and "the plan's estimate:" in proc.stdout


def test_the_readme_quotes_what_grow_says_on_the_committed_study(tmp_path):
    """Catches a README example that drifted from the command's output or the committed plan."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    said = cli("grow", "--dry-run", "--params", str(tmp_path / "params.yaml"), "--cost", str(ROOT / "results/cost.json")).stdout
    readme = (ROOT / "README.md").read_text()
    for line in said.splitlines()[:3]:
        assert f"    {line}" in readme, line
