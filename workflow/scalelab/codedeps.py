"""The code files a module runs, read from its imports with `ast` (nothing is imported): the engines'
code inputs (pipeline.code_files) are the import closure of each step's module, so they cannot
drift from the code.

What counts as running a module:
- every import in it, at module level or inside a function (a lazy import still runs code when
  the function is called, and we cannot tell statically whether it is), outside `if TYPE_CHECKING:`;
- `from pkg import name` imports pkg.name when that is a module, else reads an attribute of pkg;
- the `__init__.py` of every package on the way (`import a.b.c` runs a, a.b, then a.b.c).
A package's `__init__.py` is the one exception to "every function's imports": it runs because a
submodule is imported, and its functions are lazy accessors (scalelab.fit_curve imports the
curve fit only when called). So a package's function-level imports count only for a name someone
imports from it: `from scalelab import fit_curve` adds what fit_curve imports; `__getattr__`'s
imports count for a name the package does not define.

Only scalelab's own modules are followed from scalelab's files; a study's own modules (plug-ins
under `root`) are followed from the study's files. Installed packages are the environment's, not
the study's code. BOOKKEEPING modules are never entered: they say which files a step reads, and run
none of its work (training/store.py imports pipeline to hash the code list; a changed list is a
changed input to both engines anyway).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from scalelab import registry

PACKAGE = Path(__file__).resolve().parent
BOOKKEEPING = frozenset({"scalelab.pipeline", "scalelab.codedeps", "scalelab.dvcyaml"})


def module_file(name: str, root: Path | None = None) -> Path | None:
    """The file of module `name`: scalelab's in the package; any other only under `root` (a study's own)."""
    parts = name.split(".")
    if parts[0] == PACKAGE.name:
        found = registry.source_file(PACKAGE.joinpath(*parts[1:]))
    elif root is not None:
        found = registry.plugin_file(name, root)  # the file registry.load would load
    else:
        return None
    return found.resolve() if found is not None else None


def _skipped(node: ast.AST) -> bool:
    """An `if TYPE_CHECKING:` block: for type checkers only, it never runs."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, functions: bool):
    """Import statements under `node`, in source order; inside functions only when `functions`."""
    for child in ast.iter_child_nodes(node):
        if _skipped(child):
            for other in child.orelse:
                yield from _walk_one(other, functions)
            continue
        yield from _walk_one(child, functions)


def _walk_one(node: ast.AST, functions: bool):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    elif functions or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        yield from _walk(node, functions)


def _parse(path: Path) -> ast.Module:
    # Cached by modification time too: a long-lived process (a test) may see a file edited.
    stat = path.stat()
    return _parse_once(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse_once(path: Path, mtime_ns: int, size: int) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module a `from` import names (resolving `from . import x` in module `name`)."""
    if not node.level:
        return node.module
    package = name.split(".") if is_package else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.Import | ast.ImportFrom, name: str, path: Path, root: Path | None) -> list[str]:
    """The modules an import statement runs, parents first (each parent's __init__ runs)."""
    is_package = path.name == "__init__.py"
    if isinstance(node, ast.Import):
        return [".".join(a.name.split(".")[: i + 1]) for a in node.names for i in range(a.name.count(".") + 1)]
    base = _absolute(node, name, is_package)
    parts = base.split(".")
    found = [".".join(parts[: i + 1]) for i in range(len(parts))]
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if module_file(sub, root) is not None:
            found.append(sub)
        else:  # an attribute of the package: what its __init__'s function of that name imports
            found += _accessor_imports(base, alias.name, root)
    return found


def _accessor_imports(package: str, attribute: str, root: Path | None) -> list[str]:
    """The modules a package's top-level function `attribute` (or `__getattr__`, for a name the
    package does not define) imports when called."""
    path = module_file(package, root)
    if path is None or path.name != "__init__.py":
        return []
    tree = _parse(path)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined = set(_bound(tree))
    function = functions.get(attribute) or (functions.get("__getattr__") if attribute not in defined else None)
    if function is None:
        return []
    return [t for node in _walk(function, True) for t in _targets(node, package, path, root)]


def _bound(tree: ast.Module):
    """The names a module's top level binds (defines, assigns or imports)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            yield from (t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from ((a.asname or a.name).split(".")[0] for a in node.names)


def _imports(name: str, path: Path, own: Path | None) -> list[str]:
    """The modules that running module `name` (at `path`) runs directly; `own`: the study folder
    whose modules it may import, None for scalelab's files."""
    functions = path.name != "__init__.py"  # a package's functions count only through _accessor_imports
    return [t for node in _walk(_parse(path), functions) for t in _targets(node, name, path, own)]


def closure(modules: list[str], root: str | Path | None = None) -> list[Path]:
    """The files that importing `modules` runs (theirs, their packages' __init__s, and everything
    they import, transitively), in a fixed order: sorted by path. A module that is neither
    scalelab's nor a file under `root` (an installed package) has no file here and is skipped."""
    root = Path(root).resolve() if root is not None else None
    seen: dict[Path, None] = {}
    stack = [(m, root) for m in modules]
    while stack:
        name, where = stack.pop()
        if name in BOOKKEEPING:
            continue
        path = module_file(name, where)
        if path is None or path in seen:
            continue
        seen[path] = None
        parents = name.split(".")
        stack += [(".".join(parents[:i]), where) for i in range(1, len(parents))]
        # A study's own file may import the study's other modules; scalelab's import only scalelab's.
        own = None if path.is_relative_to(PACKAGE) else root
        stack += [(m, own) for m in _imports(name, path, own)]
    return sorted(seen)


def loads_by_name(files: list[Path]) -> list[str]:
    """The kinds ("dataset", "model") that code in `files` loads by name, `registry.load(KIND, ...)`:
    an import path from params.yaml that no import statement shows."""
    kinds = set()
    for path in files:
        for node in ast.walk(_parse(path)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "registry"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                kinds.add(node.args[0].value)
    return sorted(kinds)
