"""Comments and docstrings cite only documents the repository holds, and only sections they have.

A reader of the code must be able to open what a comment cites. So no source may cite the
third-party notes kept outside the repository, and every ``docs/<file>.md §N.M`` must name a
numbered heading of that file, every ``docs/architecture.md decision N`` one of its decisions. A
``§`` must say whose section it is: an RFC, a draft, or a ``docs/`` file on the same line or just
before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("scim_bridge", "atlassian_clients", "tests", "bench", "app.py")
THIS_FILE = Path(__file__).resolve()  # it spells the forbidden citations out

# Documents outside the repository: the shared design page (its copy is docs/architecture.md) and
# the third-party reference notes (their facts are in docs/products.md and docs/identity-providers.md).
# Paths that only locate the reference material for tests to read (../shared/reference) are fine.
ABSENT = re.compile(
    r"reference ?§|idp-behaviour|atlassian-rest|\bARCHITECTURE\b|\.\./reference\b|shared/reference/\S*\.md"
)
# Who a "§" belongs to: a repository document, or an outside standard (RFC, Internet-Draft).
TOKEN = re.compile(
    r"(?P<doc>docs/[\w-]+\.md)"
    r"|(?P<standard>\bRFC ?\d+|\bdraft-[\w-]+)"
    r"|§+\s*(?P<section>\d+(?:\.\d+)*)"
    r"|\bdecisions?\s+(?P<decisions>\d+(?:(?:,\s*|\s+and\s+)\d+)*)"
)
# How far (in lines) a citation's "§" may follow the document it belongs to.
CARRY_LINES = 2


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@cache
def _doc_text(name: str) -> str | None:
    path = ROOT / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _sections(text: str) -> set[str]:
    """Numbers of the numbered headings: "## 2. Jira" → "2", "### 2.3 Reading a user" → "2.3"."""
    return {m.group(1) for m in re.finditer(r"(?m)^#+\s+(\d+(?:\.\d+)*)\.?\s", text)}


def _decisions(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"(?m)^(\d+)\.\s+\*\*", text)}


def _headings(text: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"(?m)^#+\s+(.+)$", text)}


def check_source(where: str, text: str) -> tuple[list[Problem], int]:
    """The citation problems of one source text, and how many repository citations were verified."""
    problems: list[Problem] = []
    verified = 0
    current: tuple[str, int] | None = None  # (the document a "§" would belong to, its line number)
    for number, line in enumerate(text.splitlines(), 1):
        at = f"{where}:{number}"
        for absent in ABSENT.finditer(line):
            problems.append(Problem(at, f"cites {absent.group(0)!r}, which the repository does not contain"))
        for token in TOKEN.finditer(line):
            if token.group("doc"):
                current = (token.group("doc"), number)
                if _doc_text(current[0]) is None:
                    problems.append(Problem(at, f"cites {current[0]}, which does not exist"))
                # What follows the file name directly: a quoted heading.
                rest = line[token.end():]
                quoted = re.match(r'[`"]*\s+"([^"]+)"', rest)
                if quoted and _doc_text(current[0]) is not None:
                    verified += 1
                    if quoted.group(1) not in _headings(_doc_text(current[0])):
                        problems.append(Problem(at, f'{current[0]} has no heading "{quoted.group(1)}"'))
                continue
            if token.group("standard"):
                current = (token.group("standard"), number)
                continue
            recent = current if current is not None and number - current[1] <= CARRY_LINES else None
            if token.group("section"):
                section = token.group("section")
                if recent is None:
                    problems.append(Problem(at, f"§{section} does not say which document it is a section of"))
                elif recent[0].startswith("docs/") and _doc_text(recent[0]) is not None:
                    verified += 1
                    if section not in _sections(_doc_text(recent[0])):
                        problems.append(Problem(at, f"{recent[0]} has no section {section}"))
            elif token.group("decisions") and recent is not None and recent[0] == "docs/architecture.md":
                text_of = _doc_text(recent[0]) or ""
                for decision in re.findall(r"\d+", token.group("decisions")):
                    verified += 1
                    if decision not in _decisions(text_of):
                        problems.append(Problem(at, f"docs/architecture.md has no decision {decision}"))
    return problems, verified


def _python_sources() -> list[Path]:
    paths: list[Path] = []
    for name in SOURCES:
        root = ROOT / name
        paths += [root] if root.is_file() else sorted(root.rglob("*.py"))
    return [p for p in paths if p.resolve() != THIS_FILE]


def _scan() -> tuple[list[Problem], int]:
    problems: list[Problem] = []
    verified = 0
    for path in _python_sources():
        relative = path.relative_to(ROOT).as_posix()
        found, count = check_source(relative, path.read_text(encoding="utf-8"))
        problems += found
        verified += count
    return problems, verified


def test_sources_cite_only_documents_and_sections_the_repository_has():
    problems, verified = _scan()
    assert not problems, "citations a reader cannot follow:\n" + "\n".join(map(str, problems))
    # The scan must have reached the code that cites the docs; a broken path would pass it vacuously.
    assert verified >= 100, f"only {verified} citations of docs/ were checked"


def test_the_new_docs_have_numbered_sections_for_every_product_and_provider():
    products = _sections(_doc_text("docs/products.md") or "")
    providers = _sections(_doc_text("docs/identity-providers.md") or "")
    assert {"1", "2", "3", "4", "2.7", "3.4", "4.4", "4.6"} <= products
    assert {"1", "2", "3", "4", "1.3", "2.3", "3.3", "3.4"} <= providers


def test_the_check_flags_each_kind_of_unfollowable_citation():
    source = "\n".join([
        "# Jira answers 400 (atlassian-rest.md §4.6).",  # 1: outside document
        "# idp-behaviour §3.2 says so.",  # 2: outside document
        "# Level-triggered (ARCHITECTURE decision 2).",  # 3: outside document
        "# Cannot deactivate (reference §6.4).",  # 4: outside document
        "# Deactivation (docs/products.md §2.7), creates (§2.5).",  # 5: fine, both sections exist
        "# PATCH (RFC 7644 §3.5.2.2, §3.5.2.3).",  # 6: fine, an RFC's sections
        "",
        "",
        "",
        "# Idempotent (§1.9).",  # 10: whose §1.9? nothing cited in the lines before
        "# See docs/products.md §9.9.",  # 11: no such section
        "# See docs/nowhere.md §1.",  # 12: no such document
        "# Store first (docs/architecture.md decisions 1 and 42).",  # 13: no decision 42
        '# As docs/architecture.md "SCIM surface" says.',  # 14: fine
        '# As docs/architecture.md "No such heading" says.',  # 15: no such heading
    ])
    problems, verified = check_source("example.py", source)
    lines = sorted({int(p.where.rsplit(":", 1)[1]) for p in problems})
    assert lines == [1, 2, 3, 4, 10, 11, 12, 13, 15], "\n".join(map(str, problems))
    assert verified == 7  # lines 5 (two), 11, 13 (two), 14, 15
