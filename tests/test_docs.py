"""The documentation: a short README, and relative links that lead somewhere.

Every relative link (and image) in README.md and docs/*.md must name a file of
the repository; a link with an anchor into a Markdown file must name one of
its headings, as a code forge renders them.
"""

import glob
import os
import re
import sys
import unicodedata

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MAX_README_LINES = 250

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _documents() -> list[str]:
    return [README, *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]


def _prose(path: str) -> str:
    """The Markdown of ``path`` without fenced code blocks."""
    with open(path, encoding="utf-8") as source:
        return _FENCE.sub("", source.read())


def _links(path: str) -> list[str]:
    """Relative link targets in ``path``: not external, not in code."""
    text = _INLINE_CODE.sub("", _prose(path))
    return [
        target
        for target in _LINK.findall(text)
        if not _EXTERNAL.match(target) and not target.startswith("//")
    ]


def _slug(heading: str) -> str:
    """The anchor a code forge gives ``heading`` (GitHub's rule)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.strip().lower()
    kept = "".join(
        char for char in text if char in " -_" or unicodedata.category(char)[0] in ("L", "N")
    )
    return kept.replace(" ", "-")


def _anchors(path: str) -> set[str]:
    anchors, seen = set(), {}
    for heading in _HEADING.findall(_prose(path)):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _broken(path: str) -> list[str]:
    problems = []
    for target in _links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (
            os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        )
        if os.path.commonpath([resolved, ROOT]) != ROOT:
            problems.append(f"{target}: outside the repository")
        elif not os.path.exists(resolved):
            problems.append(f"{target}: no such file")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


def test_readme_is_short():
    with open(README, encoding="utf-8") as source:
        lines = source.read().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_docs_folder_holds_the_guides():
    for name in ("user-guide", "decoding", "dead-letters", "reliability", "performance", "design"):
        assert os.path.isfile(os.path.join(ROOT, "docs", f"{name}.md")), name


@pytest.mark.parametrize("path", _documents(), ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(path):
    assert _broken(path) == []


def test_readme_links_to_every_guide():
    linked = {os.path.normpath(target.partition("#")[0]) for target in _links(README)}
    for name in (
        "user-guide",
        "decoding",
        "dead-letters",
        "reliability",
        "performance",
        "design",
        "runners",
        "catch-up",
    ):
        assert os.path.join("docs", f"{name}.md") in linked, name


def test_link_check_finds_broken_links(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Exit codes\n\n"
        "[ok](#exit-codes) [bad anchor](#nope) [missing](gone.md) "
        "[web](https://example.com) `[code](not-a-link.md)`\n\n"
        "```\n[fenced](also-not-a-link.md)\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    assert _broken(str(page)) == [
        "#nope: no heading with anchor #nope",
        "gone.md: no such file",
    ]


@pytest.mark.parametrize(
    "heading,slug",
    [
        ("Exit codes", "exit-codes"),
        ("Options of `reindex`", "options-of-reindex"),
        ("Zero-downtime reindex: the alias swap", "zero-downtime-reindex-the-alias-swap"),
        ("Where the targets are missed, and why", "where-the-targets-are-missed-and-why"),
    ],
)
def test_slug(heading, slug):
    assert _slug(heading) == slug
