"""Find a dataset or model family by name: a built-in short name, or any importable module path.

A plug-in is a plain module (for example `plugins/my_data.py`, named `plugins.my_data` in
params.yaml) that follows the interface described in scalelab/datasets/__init__.py or
scalelab/models/__init__.py. No registration call and no fork of scalelab is needed.

A plug-in inside the study directory (`root`, default the working directory: every job runs
there) is loaded from its file, not by putting the study on sys.path: validating a study must not
change what every later `import` in the process finds (a notebook's own `plugins` package, or
another study's). A module path with no file there is imported normally: an installed package.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
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
        "manifest": "scalelab.datasets.manifest",
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


def _root(root: str | Path | None) -> Path:
    return Path(os.path.abspath(root if root is not None else os.getcwd()))


def source_file(base: Path) -> Path | None:
    """The file `import` runs for the module at path `base` (without suffix): its package's
    __init__.py if `base` is a package, else base.py, else None. A package wins over a module of
    the same name, as in Python's own import system; codedeps hashes the file this returns too."""
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def plugin_file(name: str, root: str | Path | None = None) -> Path | None:
    """The file of module path `name` (plugins.my_data: plugins/my_data.py or plugins/my_data/__init__.py)
    under the study directory `root`, or None. Only a dotted name of identifiers is a path: a
    name with slashes or dots to climb would reach outside the study."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    return source_file(_root(root).joinpath(*parts))


def check(kind: str, name: str, key: str | None = None, root: str | Path | None = None) -> None:
    """Raise a one-line error if `name` is neither built in, nor a plug-in file under `root`, nor
    importable; runs no plug-in code. `key` is the params.yaml key the error names (default:
    data.dataset or models)."""
    if name in BUILTIN[kind] or plugin_file(name, root) is not None:
        return
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


def load(kind: str, name: str, root: str | Path | None = None) -> ModuleType:
    """The module of a built-in, a plug-in under `root` (default the working directory), or an
    installed module path."""
    check(kind, name, root=root)
    if name in BUILTIN[kind]:
        return importlib.import_module(_module_path(kind, name))
    return load_module(name, root)


def load_module(name: str, root: str | Path | None = None) -> ModuleType:
    """Module path `name` from its file under the study `root`, else imported (an installed one):
    how a trainer function's module is found (models.<family>.trainer)."""
    file = plugin_file(name, root)
    if file is None:
        return importlib.import_module(name)
    return _load_file(name, file, _root(root))


def module_source(name: str, root: str | Path | None = None) -> Path | None:
    """The file module path `name` runs: under the study, else an installed module's; None if neither.
    Runs no code of the module (find_spec of a dotted name imports its parent packages only)."""
    file = plugin_file(name, root)
    if file is not None:
        return file
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _load_file(name: str, file: Path, root: Path) -> ModuleType:
    """Load plug-in `name` from `file`, its parent packages first, each registered in sys.modules
    under its dotted name, as an import would: the plug-in's relative imports (`from . import
    helpers`) then find their siblings through the parent's __path__, and pickle finds its
    functions and classes. A spawned process (the audit's) loads it again through load()."""
    parts = name.split(".")
    for depth in range(1, len(parts)):
        folder = root.joinpath(*parts[:depth])
        _register(".".join(parts[:depth]), folder / "__init__.py", folder)
    return _register(name, file, file.parent if file.name == "__init__.py" else None)


def _register(name: str, file: Path, package_dir: Path | None) -> ModuleType:
    """sys.modules[name], made from `file` (a folder without one: a namespace package, as the import
    system makes) unless it already comes from there. One from another study's file is replaced,
    and the modules under it are forgotten, so its imports find this study's."""
    found = sys.modules.get(name)
    if found is not None and _comes_from(found, file, package_dir):
        return found
    for stale in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
        del sys.modules[stale]
    search = [str(package_dir)] if package_dir is not None else None
    if file.is_file():
        spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=search)
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = search
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None and file.is_file():
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _comes_from(module: ModuleType, file: Path, package_dir: Path | None) -> bool:
    if file.is_file():
        return getattr(module, "__file__", None) == str(file)
    return str(package_dir) in list(getattr(module, "__path__", []))
