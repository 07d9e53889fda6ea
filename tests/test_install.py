"""What `pip install scalelab` gives: the curve library and `scalelab fit-curve` on numpy, scipy and
matplotlib alone; every pipeline step, without the `pipeline` extra, one line saying how to get it."""

import re
import tomllib

from conftest import ROOT
from test_curves import run_without_pipeline_packages

from scalelab.cli import PIPELINE_IMPORTS

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> list[str]:
    """The distribution names of requirement strings, without versions or markers."""
    return [re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in requirements]


def test_the_core_dependencies_are_the_curve_librarys():
    """Catches a pipeline package (torch, pandas, ...) creeping back into `pip install scalelab`."""
    assert names(PROJECT["dependencies"]) == ["numpy", "scipy", "matplotlib"]


def test_the_pipeline_extra_is_what_the_cli_names():
    """Catches a package added to the extra that cli.PIPELINE_IMPORTS does not know: a step missing
    it would end in a traceback instead of the one line naming the extra."""
    assert sorted(names(PROJECT["optional-dependencies"]["pipeline"])) == sorted(PIPELINE_IMPORTS)


def test_fit_curve_runs_without_the_pipeline_and_a_step_says_what_to_install(tmp_path):
    """Catches the CLI importing yaml, pandas or torch on its way to fit-curve or --help, and a step
    run without the pipeline ending in a traceback: `python -m scalelab ...` in an interpreter where
    the `pipeline` extra's packages cannot be imported."""
    points = tmp_path / "points.csv"
    points.write_text("size,error\n" + "".join(f"{2 ** k},{0.02 + 3 * 2 ** (-0.4 * k) * f}\n"
                                               for k in range(7, 14) for f in (0.99, 1.01)))
    run_without_pipeline_packages(f"""
import contextlib, io, runpy

def scalelab(*args):
    '''python -m scalelab ARGS, here: (exit status, stdout, stderr).'''
    sys.argv = ["scalelab", *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("scalelab", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            return exc.code, out.getvalue(), err.getvalue()
    raise AssertionError("python -m scalelab did not exit")

code, out, err = scalelab("fit-curve", {str(points)!r}, "--out", {str(tmp_path / "fit.json")!r}, "--bootstrap", "20")
assert code == 0 and "one more doubling" in out, err
code, out, err = scalelab("--help")
assert code == 0 and "fit-curve" in out, err
code, out, err = scalelab("prepare", "--params", {str(ROOT / "params.yaml")!r})
assert (code, out, err) == (2, "", "scalelab prepare needs the pipeline: pip install 'scalelab[pipeline]'\\n"), (code, err)
""")
