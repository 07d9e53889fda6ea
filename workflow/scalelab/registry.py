"""Find a dataset or model family by name: a built-in short name, or any importable module path.

A plug-in is a plain module (for example `plugins/my_data.py`, named `plugins.my_data` in
params.yaml) that follows the interface described in scalelab/datasets/__init__.py or
scalelab/models/__init__.py. No registration call and no fork of scalelab is needed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from scalelab.errors import ScalelabError

BUILTIN = {
    "dataset": {
        "mnist1d": "scalelab.datasets.mnist1d",
        "digits": "scalelab.datasets.digits",
        "cifar10": "scalelab.datasets.cifar10",
        "text_chars": "scalelab.datasets.text_chars",
        "text_words": "scalelab.datasets.text_words",
        "translation": "scalelab.datasets.translation",
        "speech": "scalelab.datasets.speech",
    },
    "model": {
        "cnn1d": "scalelab.models.cnn1d",
        "mlp": "scalelab.models.mlp",
        "cnn2d": "scalelab.models.cnn2d",
        "lstm": "scalelab.models.lstm",
        "transformer": "scalelab.models.transformer",
        "seq2seq_transformer": "scalelab.models.seq2seq_transformer",
        "seq2seq_lstm": "scalelab.models.seq2seq_lstm",
        "speech_ds2": "scalelab.models.speech_ds2",
    },
}
KEY = {"dataset": "data.dataset", "model": "models"}


def _module_path(kind: str, name: str) -> str:
    return BUILTIN[kind].get(name, name)


def _ensure_cwd_on_path() -> None:
    # Plug-in modules live in the study directory, which is the working directory of every job.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def check(kind: str, name: str, key: str | None = None) -> None:
    """Raise a one-line error if `name` is neither built in nor importable; imports nothing.
    `key` is the params.yaml key the error names (default: data.dataset or models)."""
    if name in BUILTIN[kind]:
        return
    _ensure_cwd_on_path()
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        known = ", ".join(sorted(BUILTIN[kind]))
        raise ScalelabError(
            f"params.yaml: {key or KEY[kind]}: unknown {kind} '{name}'; use one of {known} "
            f"or the import path of your own module (e.g. {'module: ' if kind == 'model' else ''}plugins.my_{kind})"
        )


def load(kind: str, name: str) -> ModuleType:
    check(kind, name)
    _ensure_cwd_on_path()
    return importlib.import_module(_module_path(kind, name))
