"""CIFAR-10 (Krizhevsky 2009) from its standard python archive: 60,000 32x32 colour images, 10 classes.

The archive (cifar-10-python.tar.gz, 170 MB) is downloaded once into data.options.data_dir
(default data/downloads, relative to the study directory), checked against its md5, and read in
place with tarfile: nothing is extracted to disk. Pool and validation images come from the 50,000
training images, the test set from the separate 10,000-image test batch, so the held-out test set
is the one every CIFAR-10 result is reported on.

Security: the batches are Python pickles, and plain pickle.loads on an untrusted file runs
whatever code it names. Two guards: the md5 check (data.options.md5; null skips it and is meant
for archives you built yourself), and an unpickler that only resolves the few numpy globals a
batch needs (anything else is refused), applied only to the six batch members named below.

Options (data.options in params.yaml), each with a default:
    data_dir  "data/downloads"   where the archive lives or is downloaded to
    download  true               fetch the archive when it is missing (false: an error instead)
    url       the official URL   where to fetch it from (a mirror, or a local http server in tests)
    md5       the official md5   null skips the check (archives built for tests)
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import http.client
import io
import pickle
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from scalelab import io as sio
from scalelab.errors import ScalelabError

from . import PoolTooSmall

N_CLASSES = 10
UNIT = "examples"

FILENAME = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_MEMBERS = tuple(f"{FOLDER}/data_batch_{i}" for i in range(1, 6))
TEST_MEMBER = f"{FOLDER}/test_batch"
TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
SHAPE = (3, 32, 32)  # each row of b"data": 1024 red, 1024 green, 1024 blue values, row-major

# Per-channel mean and standard deviation of the 50,000 training images (pixels scaled to [0, 1]).
# Fixed constants rather than statistics of the prepared pool, so every pool size, seed and shard
# sees the same transform.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)

TIMEOUT_S = 60  # per socket operation, not for the whole download
CHUNK = 1 << 20
# What a failed connection raises: URLError (DNS, refused, an HTTP error status), socket timeouts,
# a connection reset mid-way, a truncated HTTP response, a malformed URL (ValueError).
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, ValueError)


def make_splits(sizes: dict, seed: int, data_dir: str = "data/downloads", download: bool = True,
                url: str = URL, md5: str | None = MD5) -> dict:
    """Val then pool: consecutive stretches of one seeded permutation of the training batches
    (val first, so the pool's size never changes the validation set, and a pool is a prefix of
    any bigger one); test: a seeded subset of the test batch (all of it when data.test_size is
    10,000), drawn after that permutation whatever the sizes. info does not depend on the pool."""
    _check_sizes(sizes, TRAIN_IMAGES, TEST_IMAGES)  # before a 170 MB download, not after
    md5 = _check_md5(md5)
    path = ensure_archive(Path(data_dir), download, str(url), md5)
    digest = md5 or file_md5(path)  # a given md5 has been verified by now
    (train_x, train_y), (test_x, test_y) = read_archive(path)
    _check_sizes(sizes, len(train_y), len(test_y))  # an archive built for tests holds fewer

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_y))
    val_idx = order[:sizes["val"]]
    pool_idx = order[sizes["val"]:sizes["val"] + sizes["pool"]]
    test_idx = rng.permutation(len(test_y))[:sizes["test"]]
    return {
        "pool": (to_float(train_x[pool_idx]), train_y[pool_idx]),
        "val": (to_float(train_x[val_idx]), train_y[val_idx]),
        "test": (to_float(test_x[test_idx]), test_y[test_idx]),
        "n_classes": N_CLASSES,
        "tokens_per_example": 1,
        "info": {"source": url, "file": FILENAME, "md5": digest, "md5_checked": md5 is not None,
                 "train_images": len(train_y), "test_images": len(test_y),
                 "normalisation": {"mean": list(MEAN), "std": list(STD)}},
    }


def to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 [n, 3072] -> float32 [n, 3, 32, 32]: scaled to [0, 1], then per-channel standardised."""
    x = pixels.reshape(-1, *SHAPE).astype(np.float32)
    x /= np.float32(255)  # in place: a 32k-image pool is 400 MB of float32 per copy
    x -= np.asarray(MEAN, np.float32).reshape(1, 3, 1, 1)
    x /= np.asarray(STD, np.float32).reshape(1, 3, 1, 1)
    return x


def _check_md5(md5) -> str | None:
    if md5 is None:
        return None
    text = str(md5).strip().lower()
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise ScalelabError(f"params.yaml: data.options.md5: '{md5}' is not an md5 (32 hex digits); "
                            f"use the archive's md5 in quotes, or null to skip the check")
    return text


def _check_sizes(sizes: dict, train: int, test: int) -> None:
    """Validation and test must fit their batches (an error naming their key); the pool must fit
    what validation leaves of the training images (PoolTooSmall, which the caller words)."""
    for key in ("pool", "val", "test"):
        if sizes[key] < 0:
            raise ScalelabError(f"params.yaml: data.{key}_size: {sizes[key]} is negative; use a count of images")
    if sizes["val"] > train:
        raise ScalelabError(f"params.yaml: data.val_size: {sizes['val']} images asked, CIFAR-10 has {train} "
                            f"training images; lower data.val_size")
    if sizes["test"] > test:
        raise ScalelabError(
            f"params.yaml: data.test_size: {sizes['test']} images asked, CIFAR-10's test batch has "
            f"{test}; lower data.test_size"
        )
    if sizes["pool"] + sizes["val"] > train:
        raise PoolTooSmall(train - sizes["val"], UNIT, f"CIFAR-10's {train} training images less "
                                                       f"data.val_size {sizes['val']}")


# -- the archive on disk ---------------------------------------------------------------------

def ensure_archive(data_dir: Path, download: bool, url: str, md5: str | None) -> Path:
    """The archive's path, downloading it first if missing; its md5 (lower-case hex) checked when
    given."""
    path = data_dir / FILENAME
    if path.exists():
        if md5 is not None:
            actual = file_md5(path)
            if actual != md5:
                raise ScalelabError(
                    f"{path}: md5 {actual}, expected {md5} (data.options.md5); the file is "
                    f"corrupt or not the official archive: delete it to download it again"
                )
        return path
    if not download:
        raise ScalelabError(
            f"params.yaml: data.options.download is false and {path} does not exist; place "
            f"{FILENAME} (from {url}) in data.options.data_dir or set data.options.download: true"
        )
    fetch(url, path, md5)
    return path


def fetch(url: str, path: Path, md5: str | None) -> None:
    """Download `url` to `path` through a temporary file beside it, renamed only once complete
    and verified: a failed, corrupt or interrupted download leaves nothing that looks finished."""
    print(f"cifar10: downloading {url} to {path}", file=sys.stderr, flush=True)
    h = hashlib.md5()
    with sio.atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done, reported = 0, 0
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    # A line every 10% (every 10 MB when the server does not say the size).
                    step = done * 10 // total if total else done // 10_000_000
                    if step > reported:
                        reported = step
                        size = f"of {total / 1e6:.1f} MB ({done / total:.0%})" if total else "MB"
                        print(f"cifar10: {done / 1e6:.1f} {size}", file=sys.stderr, flush=True)
        except NETWORK_ERRORS as e:
            if isinstance(e, urllib.error.HTTPError):
                reason = f"HTTP {e.code} {e.reason}"
            else:
                reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            raise ScalelabError(
                f"could not reach {url} ({reason}); place {FILENAME} in data.options.data_dir "
                f"({path.parent}) by hand, or set data.options.url to a mirror"
            ) from None
        except OSError as e:  # the local side: disk full, no permission
            raise ScalelabError(f"could not write {path}: {e}") from None
        if total and done != total:
            raise ScalelabError(f"{url}: the download ended after {done} of {total} bytes; run again to retry")
        if md5 is not None and h.hexdigest() != md5:
            raise ScalelabError(
                f"{url}: the downloaded file has md5 {h.hexdigest()}, expected {md5} "
                f"(data.options.md5); it was discarded: check data.options.url, or set data.options.md5"
            )
    print(f"cifar10: saved {path} (md5 {h.hexdigest()})", file=sys.stderr, flush=True)


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- reading the batches ---------------------------------------------------------------------

def read_archive(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train pixels uint8 [50000, 3072], labels int64), (test pixels, labels)), read straight
    from the .tar.gz in one pass over it (members are stored out of order; seeking back in a
    gzip stream would decompress it again)."""
    wanted = set(TRAIN_MEMBERS) | {TEST_MEMBER}
    batches = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    batches[member.name] = _read_batch(tar.extractfile(member).read(), path, member.name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise ScalelabError(f"{path}: not a readable .tar.gz ({e}); delete it to download it again") from None
    missing = sorted(wanted - set(batches))
    if missing:
        raise ScalelabError(f"{path}: no {', '.join(missing)} in the archive; it is not CIFAR-10's python archive")
    train = [batches[name] for name in TRAIN_MEMBERS]
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), batches[TEST_MEMBER]


def _read_batch(raw: bytes, path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        # encoding="bytes": the batches were pickled by Python 2, whose str keys become bytes.
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
        x = np.asarray(batch[b"data"])
        y = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as e:
        raise ScalelabError(f"{path}: {name} is not a CIFAR-10 batch ({e})") from None
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != np.prod(SHAPE) or len(y) != len(x):
        raise ScalelabError(f"{path}: {name} holds data {x.dtype} {x.shape} and {len(y)} labels, "
                            f"not uint8 [n, 3072] and n labels")
    if len(y) and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ScalelabError(f"{path}: {name} has labels outside 0..{N_CLASSES - 1}")
    return x, y


@functools.cache
def _numpy_globals() -> dict:
    try:  # numpy 2 keeps the array machinery in numpy._core; pickles from either era name either
        from numpy._core import multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray
    names = {"numpy": {"ndarray": np.ndarray, "dtype": np.dtype},
             "_codecs": {"encode": codecs.encode}}  # protocol-2 bytes from Python 3
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[module] = {"_reconstruct": multiarray._reconstruct, "scalar": multiarray.scalar}
    return names


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only what a CIFAR-10 batch needs (numpy arrays of plain dtypes); any other global
    in the stream, the usual way a malicious pickle runs code, is refused."""

    def find_class(self, module: str, name: str):
        try:
            return _numpy_globals()[module][name]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}") from None
