"""The README stays true: its file tree names every module, its commands exist."""

import re
from pathlib import Path

from heartcare.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def tree_entries() -> set[str]:
    block = README.split("<!-- tree -->")[1]
    return {line.split()[0] for line in block.splitlines() if line.strip() and not line.startswith(("```", "<!--"))}


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_tree_lists_every_module_and_nothing_stale() -> None:
    files = {
        str(path.relative_to(ROOT))
        for folder in ("heartcare", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    entries = {entry for entry in tree_entries() if entry.endswith(".py")}
    assert files - entries == set(), "modules missing from the README tree"
    assert entries - files == set(), "README tree names files that do not exist"


def test_every_heartcare_command_in_readme_exists() -> None:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    used = set(re.findall(r"^\s*heartcare ([a-z-]+)", README, flags=re.MULTILINE))
    assert used, "README shows no heartcare command"
    assert used <= set(subparsers.choices), used - set(subparsers.choices)
