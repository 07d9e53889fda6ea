"""Step `figures`: it draws the committed study's six figures in both formats without touching the
calling process's matplotlib state."""

from conftest import ROOT


def test_figures_leave_matplotlibs_global_style_alone(default_refit, tmp_path):
    """Catches a figures step that restyles every later plot of the process (a notebook's, a
    test's): the paper style applies inside the step only; and one that switches the process's
    backend (matplotlib.use("Agg") did: a notebook's plots stopped showing)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from scalelab import config
    from scalelab.steps import figures

    backend = matplotlib.get_backend()
    plt.switch_backend("pdf")  # a process's own backend, not the Agg the step once switched to
    before = dict(plt.rcParams)
    study = default_refit
    try:
        paths = figures.run(config.load(ROOT / "params.yaml"), str(study / "results/tables"), str(study / "results/fit.json"),
                            str(study / "results/fit_samples.csv"), str(study / "results/cost.json"),
                            str(tmp_path / "figures"))
        assert matplotlib.get_backend() == "pdf"
    finally:
        plt.switch_backend(backend)
    assert len(paths) == 2 * 6 and plt.rcParams["font.size"] == before["font.size"] != figures.STYLE["font.size"]
    assert {k: plt.rcParams[k] for k in figures.STYLE} == {k: before[k] for k in figures.STYLE}
