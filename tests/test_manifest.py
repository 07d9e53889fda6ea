"""The `manifest` dataset (issue 29, item 3): data on disk is split and sharded by ROW NUMBER of a
manifest, never loaded. Validation and test take whole groups, and rows appended to the manifest
(new data bought) extend the pool at its end while every set drawn before stays byte-identical."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, run_steps, tiny_params
from scalelab import config, registry
from scalelab.datasets import IGNORE, PoolTooSmall, manifest
from scalelab.errors import ScalelabError
from scalelab.steps import prepare


# A trainer that never runs here: a manifest study's families must bring their own (config.py).
OWN_MODELS = {"own": {"command": f"{sys.executable} -c pass {{out}} {{width}}", "width": [8]}}


def write_rows(path: Path, rows: list[dict], append: bool = False) -> None:
    """A CSV manifest (appending keeps the header once, as a user's `>>` would)."""
    with open(path, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if not append:
            writer.writeheader()
        writer.writerows(rows)


def speaker(i: int) -> str:
    """Speakers arrive over time, about six rows each, interleaved with the two before them."""
    return f"s{max(0, i // 6 - i % 3)}"


def speech_rows(start: int, n: int, speaker=speaker) -> list[dict]:
    """Rows with ids from `start`, one speaker each (groups), four labels."""
    return [{"id": f"utt{i}", "file": f"audio/{i}.wav", "label": "abcd"[i % 4], "speaker": speaker(i)}
            for i in range(start, start + n)]


def data_cfg(options: dict, val: int = 30, test: int = 30) -> dict:
    return {"dataset": "manifest", "options": options, "val_size": val, "test_size": test, "seed": 0}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def groups_of(path: Path, rows: np.ndarray) -> set[str]:
    with open(path, newline="") as f:
        speakers = [r["speaker"] for r in csv.DictReader(f)]
    return {speakers[i] for i in rows}


def one_line_error(call, *needles: str) -> str:
    with pytest.raises(ScalelabError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def test_validation_and_test_take_whole_groups(tmp_path):
    """Catches a group (speaker) split between validation, test and the pool, which would score
    models on voices they trained on; and held-out sets smaller than val_size/test_size."""
    path = tmp_path / "m.csv"
    write_rows(path, speech_rows(0, 400))
    made = prepare.draw(data_cfg({"path": str(path), "group": "speaker"}), 200)
    val, test, pool = (made[s][0] for s in ("val", "test", "pool"))
    assert len(val) >= 30 and len(test) >= 30 and len(pool) == 200
    assert val.dtype == np.int64 and pool.dtype == np.int64
    sides = [groups_of(path, rows) for rows in (val, test, pool)]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert not set(val) & set(test) and not set(pool) & (set(val) | set(test))
    assert list(pool) == sorted(pool) and made["info"]["heldout_groups"] == len(sides[0]) + len(sides[1])


def test_appended_rows_extend_the_pool_and_change_nothing_drawn(tmp_path):
    """Catches a split that depends on the file's length (a shuffle, a fraction of rows, a hash
    over all rows): buying more data would change validation, test and every shard already trained
    on. Rows of held-out groups appended later must be left out, not leak into the pool."""
    path = tmp_path / "m.csv"
    write_rows(path, speech_rows(0, 300))
    cfg = data_cfg({"path": str(path), "group": "speaker", "label": "label"})
    before = {n: prepare.draw(cfg, n) for n in (0, 50, 150)}
    old_pool = prepare.draw(cfg, 0)
    available = len(manifest.split(manifest.read(str(path), None, "id", None, "speaker"), 30, 30).pool)
    held_groups = groups_of(path, np.concatenate([old_pool["val"][0], old_pool["test"][0]]))
    # New speakers, pool speakers and held-out speakers, appended at the end.
    old = sorted(groups_of(path, np.arange(300)))
    write_rows(path, speech_rows(300, 200, lambda i: old[i % len(old)] if i % 2 else f"new{i % 7}"), append=True)
    for n, made in before.items():
        again = prepare.draw(cfg, n)
        for split in ("val", "test", "pool"):
            assert all(same(a, b) for a, b in zip(made[split], again[split])), f"{split} changed at pool {n}"
        assert again["info"] == made["info"] and again["pool_info"] == made["pool_info"]
    big = prepare.draw(cfg, available + 20)["pool"][0]
    assert same(big[:available], prepare.draw(cfg, available)["pool"][0])
    assert (big[available:] >= 300).all(), "the new rows must extend the pool at its end"
    assert not groups_of(path, big) & held_groups, "a held-out speaker's appended rows leaked into the pool"
    left_out = manifest.split(manifest.read(str(path), None, "id", None, "speaker"), 30, 30).left_out
    assert (left_out >= 300).any() and groups_of(path, left_out) <= held_groups


def test_examples_n_holds_out_random_rows_of_the_block_and_pools_the_rest_in_order(tmp_path):
    """Catches `examples: N` held out from anywhere but the fixed block (appending would then
    change validation), validation and test overlapping, or a pool out of row order."""
    made = prepare.draw(data_cfg({"examples": 200}, val=10, test=20), 30)
    val, test, pool = (made[s][0] for s in ("val", "test", "pool"))
    block = manifest.BLOCK_FACTOR * 30
    assert len(val) == 10 and len(test) == 20 and not set(val) & set(test) and max(*val, *test) < block
    assert list(val) != list(range(10))  # a seeded draw, not the first rows
    rest = [i for i in range(200) if i not in set(val) | set(test)]
    assert list(pool) == rest[:30] and not made["pool"][1].any()
    assert made["n_classes"] == 1 and made["info"]["manifest"] is None
    with pytest.raises(PoolTooSmall) as short:
        prepare.draw(data_cfg({"examples": 200}, val=10, test=20), 171)
    assert short.value.available == 170
    other = prepare.draw({**data_cfg({"examples": 200}, val=10, test=20), "seed": 1}, 0)
    assert list(other["val"][0]) != list(val)  # data.seed draws the held-out rows


def test_labels_are_class_ids_of_the_held_out_labels(tmp_path):
    """Catches class ids that shift when rows are appended (numbered over the whole file) and a
    pool label that validation and test never show trained on as if it were a class."""
    path = tmp_path / "m.csv"
    labels = ["10", "9", "10", "9", "2", "10", "77", "9", "10", "2"]
    write_rows(path, [{"id": i, "label": label} for i, label in enumerate(labels)])
    made = prepare.draw(data_cfg({"path": str(path), "label": "label", "heldout_block": 8}, val=3, test=3), 4)
    held = [labels[i] for i in (*made["val"][0], *made["test"][0])]
    classes = sorted(set(held), key=int)  # numerically: "10" after "9"
    assert made["info"]["classes"] == classes and made["n_classes"] == len(classes)
    for split in ("val", "test", "pool"):
        rows, ids = made[split]
        assert list(ids) == [classes.index(labels[i]) if labels[i] in classes else IGNORE for i in rows]
    assert "77" not in classes or IGNORE not in made["pool"][1]


def test_bad_input_is_one_line_naming_the_key_or_file(tmp_path, monkeypatch):
    """Catches a pandas traceback, a KeyError or a silent wrong split for each mistake a user makes
    in a manifest: each is one line naming the file or params key and the fix."""
    monkeypatch.chdir(tmp_path)
    sizes = {"pool": 0, "val": 1, "test": 1}

    def fails(*needles, **options):
        one_line_error(lambda: manifest.make_splits(sizes, 0, **options), *needles)

    fails("data.options", "neither is set")
    fails("data.options", "not both", path="m.csv", examples=5)
    fails("data.options.path", "missing.csv", "not found", path="missing.csv")
    Path("empty.csv").write_text("")
    fails("empty.csv", "empty", path="empty.csv")
    Path("header.csv").write_text("id,label\n")
    fails("header.csv", "no rows", path="header.csv")
    write_rows(Path("m.csv"), [{"key": i, "label": "x", "g": i} for i in range(6)])
    fails("data.options.id", "m.csv", "'id'", "key, label, g", path="m.csv")
    fails("data.options.label", "'kind'", path="m.csv", id="key", label="kind")
    fails("data.options.group", "'speaker'", path="m.csv", id="key", group="speaker")
    write_rows(Path("dup.csv"), [{"id": i % 4, "label": "x"} for i in range(6)])
    fails("dup.csv", "id '0'", "rows 0 and 4", path="dup.csv")
    one_line_error(lambda: manifest.make_splits({"pool": 0, "val": 4, "test": 4}, 0, path="m.csv", id="key"),
                   "data.options.heldout_block", "first 32 rows", "holds 6")
    one_line_error(lambda: manifest.make_splits({"pool": 0, "val": 4, "test": 4}, 0, path="m.csv", id="key", heldout_block=6),
                   "data.val_size", "data.test_size", "first 6 rows")
    Path("ragged.csv").write_text('id,label\n1,x\n2,"y\n')
    fails("ragged.csv", "cannot be read", path="ragged.csv")
    Path("m.parquet").write_bytes(b"PAR1")
    fails("pip install pyarrow", "data.options.path", path="m.parquet")


def test_params_validation_refuses_a_shard_the_manifest_cannot_fill(tmp_path, monkeypatch):
    """Catches a study that starts, trains its small shards for an hour, then fails at the largest:
    config.validate reads the manifest once and names the exponent to drop."""
    monkeypatch.chdir(tmp_path)
    write_rows(tmp_path / "m.csv", speech_rows(0, 1200))
    params = tiny_params()  # val 512, test 512, exponents up to 11
    params["data"].update(dataset="manifest", options={"path": "m.csv"})
    params["models"] = OWN_MODELS
    one_line_error(lambda: config.validate(params), "data.options.heldout_block", "4096 rows", "holds 1200")
    params["data"]["options"]["heldout_block"] = 1200
    one_line_error(lambda: config.validate(params), "shards.exponents", "2^11 = 2048", "m.csv", "after validation and test",
                   "drop exponents above")
    params["shards"]["exponents"] = [5, 6, 7]
    assert config.validate(params) is params
    params["data"]["options"] = {"path": "gone.csv"}
    one_line_error(lambda: config.validate(params), "data.options.path", "gone.csv")
    params["data"]["options"] = {"path": "m.csv", "ids": "id", "heldout_block": 1200}
    one_line_error(lambda: config.validate(params), "data.options.ids")


def test_data_files_names_the_manifest():
    """Catches a pipeline that would not rerun prepare and shard when the manifest changes."""
    assert manifest.data_files({"path": "data/m.csv", "label": "y"}) == ["data/m.csv"]
    assert manifest.data_files({"examples": 10}) == [] and manifest.data_files(None) == []
    assert registry.BUILTIN["dataset"]["manifest"] == "scalelab.datasets.manifest"


def test_prepare_and_shard_through_the_cli_are_append_stable(tmp_path):
    """Catches the steps loading the data or drawing other rows once the manifest grows: the files
    hold row numbers, and rerunning prepare and shard after an append writes the same bytes."""
    params = tiny_params()
    params["data"].update(dataset="manifest", options={"path": "manifest.csv", "group": "speaker"}, val_size=20, test_size=20)
    params["shards"]["exponents"] = [4, 5, 6]
    params["models"] = OWN_MODELS
    study = copy_project(tmp_path / "study", params)
    write_rows(study / "manifest.csv", speech_rows(0, 200))
    steps = [["prepare", "--heldout-dir", "data/heldout", "--info", "data/pool.json"]]
    steps += [["shard", "--k", str(k), "--info", "data/pool.json", "--out-dir", f"data/shards/k{k}"] for k in (4, 5, 6)]
    run_steps(study, *steps)
    # Every file, pool.json and each shard's record too: a changed record would retrain its trials.
    files = sorted(f for f in (study / "data").rglob("*") if f.is_file())
    first = {f: f.read_bytes() for f in files}
    x6 = np.load(study / "data/shards/k6/x.npy")
    assert x6.dtype == np.int64 and len(x6) == 64 and (x6 < 200).all()
    write_rows(study / "manifest.csv", speech_rows(200, 100), append=True)
    run_steps(study, *steps)
    assert {f: f.read_bytes() for f in files} == first
    assert sum(f.suffix == ".npy" for f in files) == 4 + 6
