"""The README and the documentation site: the site builds under mkdocs --strict, and the strict
settings catch what they are there for (a dead link, a page missing from nav); the README, which
the site does not build, links only to files that exist. Each build runs on a copy, so a test
never writes into the checkout."""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("mkdocs", reason="mkdocs is the docs extra (make setup installs it); .ci/run builds the site too")


def build(tmp_path, edit=None) -> subprocess.CompletedProcess:
    """mkdocs build of a copy of mkdocs.yml and docs/, after edit(docs_dir) if given."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    if edit:
        edit(tmp_path / "docs")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_the_docs_build_strictly(tmp_path):
    """Catches a page, link or nav entry that mkdocs warns about: strict makes any warning fatal."""
    proc = build(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "presets" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    """Catches a configuration that is no longer strict (strict: false, or validation.links set
    back to info): a link to a page that does not exist must fail the build, not just log."""
    proc = build(tmp_path, lambda docs: (docs / "grow.md").write_text((docs / "grow.md").read_text() + "\n[gone](no_such_page.md)\n"))
    assert proc.returncode != 0 and "no_such_page.md" in proc.stderr


def test_a_link_to_a_missing_heading_fails_the_build(tmp_path):
    """Catches validation.links.anchors left at its default (info): a renamed heading would leave
    every link to it pointing at the top of the page."""
    proc = build(tmp_path, lambda docs: (docs / "grow.md").write_text((docs / "grow.md").read_text() + "\n[x](method.md#no-such-heading)\n"))
    assert proc.returncode != 0 and "no-such-heading" in proc.stderr


def test_a_page_left_out_of_nav_fails_the_build(tmp_path):
    """Catches validation.nav.omitted_files left at info: a new page nobody can reach from the menu."""
    proc = build(tmp_path, lambda docs: (docs / "orphan.md").write_text("# Orphan\n"))
    assert proc.returncode != 0 and "orphan.md" in proc.stderr


def test_the_readmes_links_point_at_files():
    """Catches a README link into docs/ (or bench/, results/) that a rename broke: mkdocs never
    reads the README, so its links are checked here."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    assert local and [t for t in local if not (ROOT / t).exists()] == []


def test_the_readmes_test_command_is_what_ci_runs():
    """Catches the README telling a newcomer to test one way while CI tests another."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci and "\nmake docs\n" in ci
    assert re.search(r"^ {4}make test\b", (ROOT / "README.md").read_text(), re.M)


def test_no_run_history_on_the_front_page_or_the_docs():
    """Catches dates and machine names creeping back into the README or docs/: when and where a
    run was made belongs in bench/README.md, beside the measurement."""
    pages = [ROOT / "README.md"] + [p for p in (ROOT / "docs").rglob("*.md") if p.name != "summary.md"]
    pattern = re.compile(r"\b20\d\d-\d\d-\d\d\b|\bVM\b|\bEPYC\b|\bXeon\b")
    found = {str(p.relative_to(ROOT)): pattern.findall(p.read_text()) for p in pages}
    assert {k: v for k, v in found.items() if v} == {}
