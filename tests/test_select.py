"""The paper's selection rule: lowest MEDIAN over seeds, failed trials never chosen."""

import math

import pandas as pd

from scalelab.steps.select import at_grid_edge, select_best


def trial(width, lr, seed, val_loss, status="ok", size=128, params=None, family="cnn1d", stopped="early"):
    return {"family": family, "shard": "k7", "k": 7, "size": size, "width": width, "lr": lr, "seed": seed,
            "params": params or width * 100, "status": status, "stopped": stopped, "train_loss": 0.1, "train_error": 0.1,
            "val_loss": val_loss, "val_error": val_loss / 2, "test_loss": val_loss, "test_error": val_loss / 2}


def test_median_over_seeds_decides_not_the_mean_or_the_single_best():
    rows = [trial(16, 0.01, s, v) for s, v in enumerate([0.1, 0.6, 0.6])]   # min 0.1, mean .43, median .6
    rows += [trial(32, 0.01, s, v) for s, v in enumerate([0.5, 0.5, 0.9])]  # min 0.5, mean .63, median .5
    best = select_best(pd.DataFrame(rows), "val_loss")
    assert len(best) == 1
    assert best.loc[0, "width"] == 32
    assert best.loc[0, "val_loss"] == 0.5
    assert best.loc[0, "n_seeds"] == 3


def test_failed_trials_are_left_out():
    rows = [trial(16, 0.01, 0, 0.4), trial(16, 0.01, 1, 0.4),
            trial(64, 0.1, 0, math.nan, status="failed"), trial(64, 0.1, 1, 0.01)]
    best = select_best(pd.DataFrame(rows), "val_loss")
    # The diverged run is dropped (not counted as a NaN or a zero); w64 is judged on its other seed.
    assert best.loc[0, "width"] == 64 and best.loc[0, "n_seeds"] == 1
    # A configuration whose every seed failed can never be chosen.
    rows = [trial(16, 0.01, 0, 0.4), trial(64, 0.1, 0, 0.0, status="failed")]
    assert select_best(pd.DataFrame(rows), "val_loss").loc[0, "width"] == 16


def test_one_row_per_shard_and_ties_go_to_the_smaller_model():
    rows = [trial(16, 0.01, 0, 0.3), trial(32, 0.01, 0, 0.3),
            trial(16, 0.01, 0, 0.2, size=256), trial(32, 0.01, 0, 0.1, size=256)]
    for r in rows[2:]:
        r.update(shard="k8", k=8)
    best = select_best(pd.DataFrame(rows), "val_loss")
    assert list(best["shard"]) == ["k7", "k8"]
    assert list(best["width"]) == [16, 32]


def test_selection_metric_is_a_parameter():
    rows = [trial(16, 0.01, 0, 0.3), trial(32, 0.01, 0, 0.4)]
    rows[0]["val_error"], rows[1]["val_error"] = 0.5, 0.1
    assert select_best(pd.DataFrame(rows), "val_loss").loc[0, "width"] == 16
    assert select_best(pd.DataFrame(rows), "val_error").loc[0, "width"] == 32


def test_best_per_family_and_shard_in_the_order_families_appear():
    rows = [trial(16, 0.01, 0, 0.3, family="mlp"), trial(32, 0.01, 0, 0.2, family="mlp"),
            trial(16, 0.01, 0, 0.1, family="cnn1d"), trial(32, 0.01, 0, 0.4, family="cnn1d")]
    best = select_best(pd.DataFrame(rows), "val_loss")
    # Each family gets its own winner, even though cnn1d w16 beats every mlp.
    assert list(zip(best["family"], best["width"])) == [("mlp", 32), ("cnn1d", 16)]


def test_budget_stopped_counts_the_chosen_configs_seeds_cut_by_the_budget():
    """A run the budget stopped was still improving: the shard's best row says how many of its
    seeds were, and a losing configuration's budget stops do not count."""
    rows = [trial(16, 0.01, 0, 0.3, stopped="budget"), trial(16, 0.01, 1, 0.3, stopped="early"),
            trial(32, 0.01, 0, 0.5, stopped="budget"), trial(32, 0.01, 1, 0.5, stopped="budget")]
    best = select_best(pd.DataFrame(rows), "val_loss")
    assert best.loc[0, "width"] == 16 and best.loc[0, "budget_stopped"] == 1
    rows = [dict(r, stopped="early") for r in rows]
    assert select_best(pd.DataFrame(rows), "val_loss").loc[0, "budget_stopped"] == 0


def test_a_winner_at_either_end_of_the_width_grid_is_censored():
    """The widest and the narrowest width may only be the widest and narrowest tried: the size law
    leaves both out; a one-width grid measures no size law at all."""
    best = pd.DataFrame({"family": ["cnn1d"] * 3 + ["mlp"], "width": [32, 64, 128, 256]})
    models = {"cnn1d": {"width": [64, 32, 128]}, "mlp": {"width": [256]}}
    assert at_grid_edge(best, {"models": models}) == [True, False, True, True]
