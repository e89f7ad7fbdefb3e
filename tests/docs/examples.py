"""The shell examples of README.md and docs/: found, and their shown output compared by shape.

A ```bash block is an example. The HTML comment on the line before it may say how the tests treat
it: `<!-- docs-test: skip (reason) -->` never runs it (the reason is reported), `<!-- docs-test:
needs MODULE -->` runs it only where MODULE is installed. A ```text block right after an example
(only blank lines between) is its shown output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>skip|needs)\s*(?P<arg>.*?)\s*-->$")
# numbers and hashes differ from run to run: one token each, whatever their digits
VALUE = re.compile(r"[0-9a-f]*[0-9][0-9a-f]*")


@dataclass(frozen=True)
class Example:
    page: str
    line: int  # of the opening fence, 1-based
    code: str
    skip: str | None = None  # why it never runs
    needs: str | None = None  # a module it needs
    output: str | None = None  # the output the page shows for it

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(text: str) -> list[tuple[int, str, str, int]]:
    """(fence line, language, body, closing line) of each unindented fenced block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append((i, opened[1], "\n".join(lines[i + 1 : end]) + "\n", end))
        i = end + 1
    return blocks


def shell_examples(root: Path, page: str) -> list[Example]:
    """The ```bash blocks of one page, in order, with their marker and shown output."""
    text = (root / page).read_text()
    lines = text.splitlines()
    blocks = _blocks(text)
    examples = []
    for index, (start, language, body, end) in enumerate(blocks):
        if language != "bash":
            continue
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(before)
        if before.startswith("<!--") and "docs-test" in before and not marker:
            raise ValueError(f"{page}:{start}: unreadable marker {before!r}")
        skip = needs = None
        if marker and marker["kind"] == "skip":
            skip = marker["arg"].strip("()")
            if not skip:
                raise ValueError(f"{page}:{start}: a skipped example needs a reason in parentheses")
        elif marker:
            needs = marker["arg"]
        output = None
        if index + 1 < len(blocks):
            next_start, next_language, next_body, _ = blocks[index + 1]
            if next_language == "text" and not any(line.strip() for line in lines[end + 1 : next_start]):
                output = next_body
        examples.append(Example(page, start + 1, body, skip, needs, output))
    return examples


def shape(line: str) -> str:
    """A line with every number or hash as `9` and runs of spaces as one."""
    return " ".join(VALUE.sub("9", line).split())


def missing_output(shown: str, printed: str) -> str | None:
    """The first shown line that is not, in order, the shape of a printed line (`...` matches anything)."""
    printed_shapes = [shape(line) for line in printed.splitlines()]
    at = 0
    for line in shown.splitlines():
        if line.strip() in ("", "..."):
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in shape(line).split("...")))
        hit = next((i for i in range(at, len(printed_shapes)) if pattern.fullmatch(printed_shapes[i])), None)
        if hit is None:
            return line
        at = hit + 1
    return None
