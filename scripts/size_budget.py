"""Fail when a module or a function outgrows what a reader takes in at once.

    python scripts/size_budget.py [PATH ...]     (default: src bench)

Budgets: a module at most 400 lines, a function (or method) at most 60. Generated Alembic
revisions are exempt. Prints every offender as PATH:LINE NAME (N lines) and exits 1.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MODULE_LINES = 400
FUNCTION_LINES = 60
EXEMPT = ("migrations/versions/",)


def offenders(path: Path) -> Iterator[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.count("\n")
    if lines > MODULE_LINES:
        yield f"{path}: module ({lines} lines > {MODULE_LINES})"
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > FUNCTION_LINES:
                yield f"{path}:{node.lineno} {node.name} ({length} lines > {FUNCTION_LINES})"


def main(roots: list[str]) -> int:
    found = [
        problem
        for root in roots
        for path in sorted(Path(root).rglob("*.py"))
        if not any(part in path.as_posix() for part in EXEMPT)
        for problem in offenders(path)
    ]
    for problem in found:
        print(problem)
    if found:
        print(f"size budget exceeded in {len(found)} place(s): split along responsibilities")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src", "bench"]))
