"""Atomic, deterministic file writes: an interrupted job never leaves a file that looks finished."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from scalelab.errors import ScalelabError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    A failed write is an OSError naming `path` (not the temporary file); one that failed because
    the disk is full says so, whatever the writer raised (torch.save raises RuntimeError)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; finished files get the usual mode
        yield tmp
        os.replace(tmp, path)
    except Exception as exc:
        if _disk_full(path.parent):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def to_jsonable(value: Any) -> Any:
    """Plain Python types only, floats rounded to 10 significant digits so bytes are stable."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / torch scalars
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None  # JSON has no NaN/inf; null says "not available"
        return float(f"{value:.10g}")
    return value


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in `path`; a truncated or hand-broken file is a one-line error naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScalelabError(f"{path}: not valid JSON ({exc}); it was cut short or edited by hand: delete it and "
                            "rerun the step that writes it (snakemake or dvc repro rerun what is missing)") from None


def write_rows(path: str | os.PathLike, columns: list[str], rows: list[dict]) -> None:
    """Write dict rows as CSV without pandas (whose import costs half a second per job)."""
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(f"{row[c]:.10g}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    write_text(path, "\n".join(lines) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame atomically with a fixed float format."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n")
