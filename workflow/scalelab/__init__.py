"""scalelab: measure how error falls with data and model size, then extrapolate.

One module per pipeline step under scalelab.steps (prepare, shard, train, select, audit, fit,
predict, figures, report), each a subcommand of the `scalelab` CLI that Snakemake and DVC both call.
"""

__version__ = "0.1.0"


def fit_curve(sizes, errors, **options) -> dict:
    """Fit a learning curve measured elsewhere: `scalelab fit-curve` from Python, the same result.
    See scalelab.curves.measured.fit_curve for the options. Imported on first call, so the CLI's
    start-up does not pay for numpy and the fit."""
    from scalelab.curves.measured import fit_curve as fit
    return fit(sizes, errors, **options)


def __getattr__(name):
    # Lazy like fit_curve: `import scalelab` (the CLI's start-up) loads neither numpy nor the fit.
    if name == "LearningCurve":  # the fit as an estimator: .fit, .predict, .interval, .plot (curves/estimator.py)
        from scalelab.curves.estimator import LearningCurve
        return LearningCurve
    if name == "ScalelabError":
        from scalelab.errors import ScalelabError
        return ScalelabError
    raise AttributeError(f"module 'scalelab' has no attribute {name!r}")
