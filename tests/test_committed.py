"""Every number the README and docs/ quote is what tools/quote_results.py renders from the committed
results now. Without this, a refit would leave the pages telling an older story: exactly the drift
a reader cannot see. The tests check numbers against files, never the pages' sentences. That the
committed results are what today's code makes of the committed trials is each step's test:
test_fit.py (fit.json, and the kept presets' runs), test_predict.py and test_report.py."""

import json
import shutil

from conftest import COMMITTED, ROOT


def quote_results():
    """tools/quote_results.py, imported from the checkout."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("quote_results", ROOT / "tools" / "quote_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quoted_result_is_what_the_results_files_give_now():
    """Catches a stale or hand-edited number in the README or docs/: every block between
    `<!-- NAME:start -->` and `<!-- NAME:end -->` must be what tools/quote_results.py renders from
    the committed results (results/, docs/presets/) today. Fix: python tools/quote_results.py."""
    quotes = quote_results()
    stale = [str(p.relative_to(ROOT)) for p in quotes.quoting_files(ROOT)
             if quotes.rewrite(p.read_text(), ROOT, p.name) != p.read_text()]
    assert not stale, f"{stale}: quoted results differ from the results files; run python tools/quote_results.py"


def test_every_kind_of_quote_is_on_a_page():
    """Catches a quote whose markers were deleted: its numbers would stay on the page as plain
    text that no test compares with the results any more."""
    quotes = quote_results()
    pages = "".join(p.read_text() for p in quotes.quoting_files(ROOT))
    assert [name for name in quotes.BLOCKS if f"<!-- {name}:start -->" not in pages] == []


def test_a_changed_result_changes_its_quote(tmp_path):
    """Catches a renderer that does not read the file it quotes (a constant would pass the check
    above forever): the answer rendered from an edited fit.json differs from the committed one."""
    quotes = quote_results()
    (tmp_path / "results").mkdir()
    for name in ("fit.json", "metrics.json"):
        shutil.copy(COMMITTED / name, tmp_path / "results" / name)
    fit = json.loads((COMMITTED / "fit.json").read_text())
    fit["families"][fit["family"]]["local_slope"]["doubling_ratio"] = 0.5  # the primary family
    (tmp_path / "results/fit.json").write_text(json.dumps(fit))
    assert "x 0.500 [" in quotes.answer(tmp_path) and quotes.answer(tmp_path) != quotes.answer(ROOT)
