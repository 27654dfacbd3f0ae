"""The documentation: internal links resolve, every rule-file example passes `faultmgr check`, and the
generated reference is up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.config.reference import reference
from faultmgr.plugin.manager import load_plugins

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("contrib/**/README.md"),
                *ROOT.glob("plugins/*/README.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RULE_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def test_there_are_docs() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/reference.md"} <= names


def anchors(page: Path) -> set[str]:
    """The fragment ids a Markdown renderer (GitHub's) gives the page's headings: lower case, punctuation
    dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_internal_links_resolve(page: Path) -> None:
    """Files and the headings named by ``#fragment`` exist (in the page itself or the one linked)."""
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path) if path else page
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            broken.append(target)
    assert broken == [], f"{page}: broken links {broken}"


EXAMPLES = [(page, i, block) for page in PAGES for i, block in enumerate(RULE_BLOCK.findall(page.read_text()))
            if re.search(r"^(rules|detectors|receivers|actions|daemon|inhibit|pools|api):", block, re.M)]


@pytest.mark.parametrize("page,index,block", EXAMPLES,
                         ids=[f"{p.relative_to(ROOT).as_posix()}#{i}" for p, i, _ in EXAMPLES])
def test_rule_examples_pass_check(page: Path, index: int, block: str, tmp_path: Path) -> None:
    example = tmp_path / f"example{index}.yaml"
    example.write_text(block)
    try:
        load([example], PLUGINS)
    except ConfigError as exc:
        pytest.fail(f"{page.relative_to(ROOT)} example #{index} is rejected:\n{exc}")


PLUGINS = load_plugins(disabled=["example"])  # the reference covers first-party plugins only


def test_reference_is_generated_from_the_declared_keys() -> None:
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == reference(PLUGINS), "docs/reference.md is stale: run `faultmgr schema --markdown " \
                                            "> docs/reference.md`"


def test_every_command_has_help_with_an_example() -> None:
    """Every command and subcommand (``faultmgr pool drain`` too), the plugins' included."""
    import click

    from faultmgr.cli.main import build_cli

    missing = []

    def walk(group: click.Group, path: list[str]) -> None:
        for name, command in group.commands.items():
            if "Example" not in (command.help or ""):
                missing.append(" ".join([*path, name]))
            if isinstance(command, click.Group):
                walk(command, [*path, name])

    walk(build_cli(), ["faultmgr"])
    assert missing == []
    result = subprocess.run([sys.executable, "-m", "faultmgr", "pool", "drain", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Example" in result.stdout  # and click shows it as written
