"""CIFAR-10 loader and the cnn2d family, on a small archive built here in the real format (a
.tar.gz of pickled batches with bytes keys), served by a local HTTP server for the download path.

Image g (0..199 in the five training batches, 200..239 in the test batch) has pixel
(channel c, row r, column k) = (g + 3c + r + k) % 256 and label g % 10, so every prepared example
can be traced back to the image it came from and its values checked exactly."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from scalelab import registry
from scalelab.datasets import PoolTooSmall, cifar10
from scalelab.errors import ScalelabError
from scalelab.models import cnn2d

PER_BATCH = 40
N_TRAIN, N_TEST = 5 * PER_BATCH, PER_BATCH
SMALL = {"pool": 120, "val": 50, "test": 30}


def pattern(g: np.ndarray) -> np.ndarray:
    """uint8 [len(g), 3072] in CIFAR's row layout: 1024 red, 1024 green, 1024 blue, row-major."""
    c, r, k = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((g[:, None] + (3 * c + r + k).reshape(1, -1)) % 256).astype(np.uint8)


def batch_bytes(first: int, n: int) -> bytes:
    g = np.arange(first, first + n)
    batch = {b"batch_label": b"batch", b"labels": [int(v) for v in g % 10], b"data": pattern(g),
             b"filenames": [b"img_%d.png" % v for v in g]}
    return pickle.dumps(batch, protocol=2)  # the real batches are Python 2 pickles (protocol 2)


def archive_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_members() -> dict[str, bytes]:
    # Stored out of order, as in the real archive.
    members = {f"data_batch_{i}": batch_bytes((i - 1) * PER_BATCH, PER_BATCH) for i in (4, 1, 5, 3)}
    members["test_batch"] = batch_bytes(N_TRAIN, N_TEST)
    members["batches.meta"] = pickle.dumps({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                                             b"dog", b"frog", b"horse", b"ship", b"truck"],
                                            b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072}, protocol=2)
    members["data_batch_2"] = batch_bytes(PER_BATCH, PER_BATCH)
    return members


@pytest.fixture(scope="module")
def archive() -> bytes:
    return archive_bytes(cifar_members())


@pytest.fixture
def placed(tmp_path, archive) -> Path:
    """A data_dir holding the archive, as if the user had put it there by hand."""
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / cifar10.FILENAME).write_bytes(archive)
    return tmp_path / "downloads"


def identity(x: np.ndarray) -> np.ndarray:
    """Image number g of each example, read back from its normalised red pixel (0, 0)."""
    red = x[:, 0, 0, 0] * cifar10.STD[0] + cifar10.MEAN[0]
    return np.rint(red * 255).astype(int)


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_loader_reads_the_archive_into_disjoint_normalised_splits(placed, archive):
    made = cifar10.make_splits(SMALL, 0, data_dir=str(placed), download=False, md5=None)
    assert made["n_classes"] == 10 and made["tokens_per_example"] == 1
    ids = {}
    for split, n in SMALL.items():
        x, y = made[split]
        assert x.shape == (n, 3, 32, 32) and x.dtype == np.float32 and y.shape == (n,) and y.dtype == np.int64
        ids[split] = identity(x)
        assert len(set(ids[split])) == n
        # Every value is the pattern of the image it came from, scaled and standardised.
        raw = pattern(ids[split]).reshape(-1, 3, 32, 32) / 255.0
        expected = (raw - np.reshape(cifar10.MEAN, (1, 3, 1, 1))) / np.reshape(cifar10.STD, (1, 3, 1, 1))
        np.testing.assert_allclose(x, expected, atol=1e-5)
        np.testing.assert_array_equal(y, ids[split] % 10)
    assert not set(ids["pool"]) & set(ids["val"])
    assert set(ids["pool"]) | set(ids["val"]) <= set(range(N_TRAIN))
    assert set(ids["test"]) <= set(range(N_TRAIN, N_TRAIN + N_TEST))  # the test batch only
    info = made["info"]
    assert info["md5"] == hashlib.md5(archive).hexdigest() and info["md5_checked"] is False
    assert info["source"] == cifar10.URL and info["train_images"] == N_TRAIN and info["test_images"] == N_TEST
    json.dumps(info)  # goes into pool.json


def test_splits_are_deterministic_and_val_does_not_depend_on_pool_size(placed):
    def run(sizes, seed=0):
        return cifar10.make_splits(sizes, seed, data_dir=str(placed), download=False, md5=None)

    a, b = run(SMALL), run(SMALL)
    for split in SMALL:
        assert a[split][0].tobytes() == b[split][0].tobytes() and a[split][1].tobytes() == b[split][1].tobytes()
    other = run(SMALL, seed=1)
    assert not np.array_equal(identity(a["val"][0]), identity(other["val"][0]))
    bigger = run({**SMALL, "pool": 150})
    np.testing.assert_array_equal(bigger["val"][0], a["val"][0])
    np.testing.assert_array_equal(bigger["pool"][0][:120], a["pool"][0])  # a larger pool extends it


@pytest.mark.parametrize("sizes, key", [
    ({"pool": 10, "val": 201, "test": 10}, "data.val_size"),
    ({"pool": 10, "val": 10, "test": 41}, "data.test_size"),
    ({"pool": 10, "val": -1, "test": 10}, "data.val_size"),
])
def test_sizes_too_large_name_the_key(placed, sizes, key):
    with pytest.raises(ScalelabError) as e:
        cifar10.make_splits(sizes, 0, data_dir=str(placed), download=False, md5=None)
    assert one_line_error(e).startswith(f"params.yaml: {key}:")


def test_a_pool_beyond_the_training_images_is_pool_too_small(placed):
    with pytest.raises(PoolTooSmall) as e:
        cifar10.make_splits({"pool": 160, "val": 50, "test": 10}, 0, data_dir=str(placed), download=False, md5=None)
    assert e.value.available == N_TRAIN - 50 and e.value.unit == "examples"
    assert one_line_error(e).startswith(f"the pool holds only {N_TRAIN - 50} examples after validation and test")


def test_sizes_beyond_real_cifar_fail_before_any_download(tmp_path):
    with pytest.raises(PoolTooSmall) as e:
        cifar10.make_splits({"pool": 48000, "val": 5000, "test": 10}, 0, data_dir=str(tmp_path / "d"),
                            url="http://127.0.0.1:9/x")
    assert e.value.available == 45000 and "50000 training images" in one_line_error(e)
    assert not (tmp_path / "d").exists()


def test_md5_mismatch_on_an_existing_file_is_one_line(placed, archive):
    with pytest.raises(ScalelabError) as e:
        cifar10.make_splits(SMALL, 0, data_dir=str(placed), md5="0" * 32)
    message = one_line_error(e)
    assert str(placed / cifar10.FILENAME) in message and hashlib.md5(archive).hexdigest() in message
    assert "0" * 32 in message and "delete it" in message
    with pytest.raises(ScalelabError) as e:
        cifar10.make_splits(SMALL, 0, data_dir=str(placed), md5="not-an-md5")
    assert one_line_error(e).startswith("params.yaml: data.options.md5:")


def test_missing_archive_without_download(tmp_path):
    with pytest.raises(ScalelabError) as e:
        cifar10.make_splits(SMALL, 0, data_dir=str(tmp_path), download=False)
    assert "data.options.download" in one_line_error(e) and cifar10.FILENAME in str(e.value)


class _Server:
    """A local HTTP server in a thread serving `files` ({url path: bytes}); counts GETs."""

    def __init__(self, files: dict[str, bytes], truncate: bool = False):
        self.gets = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.gets += 1
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_then_renames_and_is_not_repeated(tmp_path, archive, capsys):
    md5 = hashlib.md5(archive).hexdigest()
    data_dir = tmp_path / "data" / "downloads"
    with _Server({"/c.tar.gz": archive}) as server:
        url = server.url + "/c.tar.gz"
        # A wrong md5: the download is discarded, nothing is left that looks finished.
        with pytest.raises(ScalelabError) as e:
            cifar10.make_splits(SMALL, 0, data_dir=str(data_dir), url=url, md5="f" * 32)
        assert md5 in one_line_error(e) and "discarded" in str(e.value)
        assert list(data_dir.iterdir()) == []

        made = cifar10.make_splits(SMALL, 0, data_dir=str(data_dir), url=url, md5=md5)
        assert server.gets == 2
        assert [p.name for p in data_dir.iterdir()] == [cifar10.FILENAME]
        assert (data_dir / cifar10.FILENAME).read_bytes() == archive
        assert made["info"]["md5"] == md5 and made["info"]["md5_checked"] is True
        assert "100%" in capsys.readouterr().err  # progress lines on stderr

        again = cifar10.make_splits(SMALL, 0, data_dir=str(data_dir), url=url, md5=md5)
        assert server.gets == 2  # found and verified, not fetched again
        assert again["pool"][0].tobytes() == made["pool"][0].tobytes()


def test_interrupted_download_leaves_no_file(tmp_path, archive):
    data_dir = tmp_path / "downloads"
    with _Server({"/c.tar.gz": archive}, truncate=True) as server:
        with pytest.raises(ScalelabError) as e:
            cifar10.make_splits(SMALL, 0, data_dir=str(data_dir), url=server.url + "/c.tar.gz", md5=None)
    one_line_error(e)
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/cifar-10-python.tar.gz", "PLACEHOLDER_404"])
def test_unreachable_url_is_one_line_and_leaves_no_file(tmp_path, url, archive):
    data_dir = tmp_path / "downloads"
    with _Server({}) as server:
        url = url.replace("PLACEHOLDER_404", server.url + "/missing.tar.gz")
        with pytest.raises(ScalelabError) as e:
            cifar10.make_splits(SMALL, 0, data_dir=str(data_dir), url=url)
    message = one_line_error(e)
    assert message.startswith(f"could not reach {url} (") and "data.options.data_dir" in message
    assert "data.options.url" in message
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    members = cifar_members()
    members["data_batch_3"] = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    (tmp_path / cifar10.FILENAME).write_bytes(archive_bytes(members))
    with pytest.raises(ScalelabError) as e:
        cifar10.make_splits(SMALL, 0, data_dir=str(tmp_path), download=False, md5=None)
    assert "data_batch_3" in one_line_error(e) and "refused global" in str(e.value)


def test_registry_names_and_cnn2d_logits():
    assert registry.load("dataset", "cifar10") is cifar10
    assert registry.load("model", "cnn2d") is cnn2d
    x = torch.randn(5, 3, 32, 32)
    grads = []
    for _ in range(2):
        torch.manual_seed(0)
        model = cnn2d.build(16, (3, 32, 32), 10)
        logits = model(x)
        assert logits.shape == (5, 10)
        torch.nn.functional.cross_entropy(logits, torch.arange(5)).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.equal(grads[0], grads[1])  # seeded build, deterministic forward and backward on CPU
