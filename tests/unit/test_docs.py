"""The documentation: the site builds strictly (offline), the generated references match the
code, and the README stays short, its links resolve and its Quick start is what CI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from harness.config import PROJECT_ROOT
from tests.unit.scripts import load_script

README = PROJECT_ROOT / "README.md"


def _reference() -> ModuleType:
    return load_script("scripts/reference.py", "reference")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = _build(PROJECT_ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "guides" / "verdict-semantics" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


def test_a_broken_link_or_a_page_left_out_of_the_nav_fails_the_build(tmp_path: Path) -> None:
    """The strict build's control: the same site with one broken link, then with one page the
    nav does not name, fails."""
    shutil.copytree(PROJECT_ROOT / "docs", tmp_path / "docs")
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "getting-started.md"
    text = page.read_text()
    page.write_text(text + "\nSee [nowhere](guides/no-such-page.md).\n")
    broken = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0
    assert "no-such-page.md" in broken.stderr
    page.write_text(text)
    (tmp_path / "docs" / "orphan.md").write_text("# Not in the nav\n")
    orphan = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert orphan.returncode != 0
    assert "orphan.md" in orphan.stderr


def test_the_generated_references_match_the_code() -> None:
    stale = [str(path.relative_to(PROJECT_ROOT)) for path, text in _reference().render().items()
             if not path.is_file() or path.read_text() != text]
    assert stale == [], "run .venv/bin/python scripts/reference.py"


def test_the_references_name_what_the_code_has() -> None:
    """Spot checks written by hand: a command's option, a setting, a switch, an action, a probe."""
    ref = PROJECT_ROOT / "docs" / "reference"
    assert "--max-error-ratio" in (ref / "cli.md").read_text()
    assert "| `DEVSIM_LB_TLS_PORT` | `lb_tls_port` | int | `8443` |" in (ref / "settings.md").read_text()
    assert "| `DB_SYNCHRONOUS_MODE` | `on` |" in (ref / "switches.md").read_text()
    assert "### `harness.chaos.database.kill_db_leader`" in (ref / "extension.md").read_text()
    assert "| `write_rto` |" in (ref / "claims.md").read_text()
    assert "| `lb` | `lb/` | backend | tls_edge_key | 8080 -> 8080, 8443 -> 8443 |" in \
        (PROJECT_ROOT / "target-stack" / "README.md").read_text()


def test_the_readme_is_short_and_its_links_resolve() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    targets = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in t]
    assert len(targets) > 20
    missing = [t for t in targets if not (PROJECT_ROOT / t).exists()]
    assert missing == []


def test_the_quick_start_is_what_ci_runs() -> None:
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["bash scripts/setup.sh && .venv/bin/devsim run --keep-up experiments/app-instance-crash.yaml",
                        "bash scripts/setup.sh && .venv/bin/python -m pytest"]
    assert (PROJECT_ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == commands[1]


def test_the_benchmarks_index_links_every_script_and_its_results_exist() -> None:
    bench = PROJECT_ROOT / "benchmarks"
    text = (bench / "README.md").read_text()
    targets = re.findall(r"\]\((results/[^)]+)\)", text)
    assert [t for t in targets if not (bench / t).exists()] == []
    scripts = {p.name for p in bench.glob("*.py")}
    assert {s for s in scripts if f"`{s}`" not in text} == set()
