"""Comments and docstrings stand on their own: no requirement ids, no pointers outside the repository.

Every module of ``ldtui`` and ``bench`` opens with a docstring whose first line says what it
is. No comment (``#`` token) and no docstring (any bare string statement: module, class,
function and attribute docstrings) names a requirement by its id (``G-13``, ``B-2``…) or
points to a document this repository does not hold (the requirements page, a design page,
the format page, the seed's examples): the rule is said in words, or the comment points to
a section of ``docs/``. Strings that are data or program output are not looked at.

A path in ``EXEMPT`` is not checked (an entry ending in ``/`` exempts a directory); it is
empty, and should stay so.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("ldtui", "bench")

EXEMPT: frozenset[str] = frozenset()

REQUIREMENT_ID = re.compile(r"\b[A-Z]{1,2}-\d{1,2}\b")
"""A requirement id: one or two capitals, a hyphen, a number (``G-13``, ``L-1…L-5``).
Names such as ``AES-256``, ``UTF-8``, ``SHA-256`` or ``ChaCha20-Poly1305`` do not match."""

OUTSIDE_REFERENCE = re.compile(
    r"\bSPEC\b|\b(?:SPEC|DESIGN|LDM-FORMATS)\.md\b"
    r"|(?i:\bseed(?:'s)? (?:examples?|\d-\d)\b|\bthe seed's\b|\bexamples? 8-\d)")
"""A pointer to a page outside the repository: the requirements, design or format page, or
the seed chapter's numbered examples."""


def _exempt(rel: str) -> bool:
    return any(rel == e or (e.endswith("/") and rel.startswith(e)) for e in EXEMPT)


def _modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for tree in TREES for p in (ROOT / tree).rglob("*.py"))


def _texts(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and every bare string statement of ``source``."""
    out = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
           if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            out += [(node.lineno + i, line) for i, line in enumerate(node.value.value.splitlines())]
    return out


def problems(rel: str, source: str) -> list[str]:
    """What is wrong with the comments and docstrings of one module, one line each."""
    found = []
    doc = ast.get_docstring(ast.parse(source), clean=False)
    if not doc or not doc.split("\n", 1)[0].strip():
        found.append(f"{rel}:1: the module does not open with a one-line docstring")
    for line, text in _texts(source):
        for pattern, what in ((REQUIREMENT_ID, "requirement id"), (OUTSIDE_REFERENCE, "outside reference")):
            m = pattern.search(text)
            if m:
                found.append(f"{rel}:{line}: {what} {m.group()!r}: {text.strip()}")
    return found


def test_comments_and_docstrings_stand_on_their_own():
    checked = [rel for rel in _modules() if not _exempt(rel)]
    assert len(checked) > 50, checked
    found = [p for rel in checked for p in problems(rel, (ROOT / rel).read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ('"""A module."""\n# keeps G-13 in words\n', ["requirement id 'G-13'"]),
    ('"""A module (SPEC L-1…L-5)."""\n', ["requirement id 'L-1'", "outside reference 'SPEC'"]),
    ('"""A module."""\nX = 1\n"""Attribute docstring (DESIGN.md)."""\n', ["outside reference 'DESIGN.md'"]),
    ('"""A module."""\ndef f():\n    """As the seed\'s example shows."""\n', ["outside reference"]),
    ('"""A module."""\nMSG = "G-13 in data is not a comment"\n', []),
    ('"""A module."""\n# AES-256, UTF-8, SHA-256, ChaCha20-Poly1305, 0x8-1\n', []),
    ("X = 1\n", ["one-line docstring"]),
    ('"""\nSummary on the second line."""\n', ["one-line docstring"]),
])
def test_the_check_finds_what_it_should(source, expected):
    found = problems("m.py", source)
    assert len(found) == len(expected), found
    for line, part in zip(found, expected):
        assert part in line
