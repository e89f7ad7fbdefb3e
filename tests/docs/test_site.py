"""The documentation site builds with `--strict`, and the README stays a short first page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT, VENV_BIN
from tests.docs.examples import missing_output, shell_examples

README_LIMIT = 12 * 1024
ISSUE_NUMBER = re.compile(r"\bissues? \d+|(?<![\w!])#\d{1,4}\b", re.IGNORECASE)  # not GTO tags (model#prod#3)


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(VENV_BIN), "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = build(REPO_ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "experiments" / "index.html").is_file()


def test_a_broken_link_or_a_page_outside_the_nav_fails_the_build(tmp_path: Path) -> None:
    for case, change in {
        "link": lambda docs: (docs / "index.md").write_text("[gone](no-such-page.md)\n"),
        "nav": lambda docs: (docs / "orphan.md").write_text("# Orphan\n"),
    }.items():
        root = tmp_path / case
        shutil.copytree(REPO_ROOT / "docs", root / "docs")
        shutil.copy2(REPO_ROOT / "mkdocs.yml", root / "mkdocs.yml")
        change(root / "docs")
        result = build(root, root / "site")
        assert result.returncode != 0, f"{case}: {result.stderr}"


def test_readme_is_short_and_user_docs_name_no_internal_issue() -> None:
    assert len((REPO_ROOT / "README.md").read_bytes()) <= README_LIMIT
    for page in ["README.md", *(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").glob("*.md"))]:
        found = ISSUE_NUMBER.search((REPO_ROOT / page).read_text())
        assert found is None, f"{page}: {found[0]!r}"


def test_markers_and_shown_output_are_read(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: skip (opens a browser) -->\n```bash\nmake notebook\n```\n\n"
        "<!-- docs-test: needs papermill -->\n```bash\nmake notebooks\n```\n\n"
        "```bash\nls\n```\n\n```text\nscored 1,024 rows in ... s\n```\n"
    )
    skipped, needs, shown = shell_examples(tmp_path, "page.md")
    assert (skipped.skip, skipped.line, needs.needs, needs.skip) == ("opens a browser", 2, "papermill", None)
    assert shown.output == "scored 1,024 rows in ... s\n" and skipped.output is None
    assert missing_output(shown.output, "start\nscored 16,281 rows in 5.5 s\n") is None
    assert missing_output(shown.output, "scored rows in 5.5 s\n") == "scored 1,024 rows in ... s"
    page.write_text("<!-- docs-test: skip -->\n```bash\nls\n```\n")
    try:
        shell_examples(tmp_path, "page.md")
    except ValueError as error:
        assert "needs a reason" in str(error)
    else:
        raise AssertionError("a skip without a reason was accepted")
