"""The shape the code keeps (issue 24): no module over 500 lines, no function over 60 lines,
and no public function taking more than 5 positional parameters or an ``*args`` tuple of
options. A failure names the place to split."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "superres"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_POSITIONAL = 5


def _modules() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))]


def _functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_module_is_over_500_lines():
    long = [f"{p.relative_to(PACKAGE)}: {s.count(chr(10))}" for p, s in _modules()]
    assert [m for m in long if int(m.rsplit(": ", 1)[1]) > MAX_MODULE_LINES] == []


def test_no_function_is_over_60_lines():
    found = []
    for path, source in _modules():
        for node in _functions(ast.parse(source)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert found == []


def test_public_functions_take_options_by_keyword():
    found = []
    for path, source in _modules():
        for node in _functions(ast.parse(source)):
            if node.name.startswith("_"):
                continue
            args = node.args
            positional = [a.arg for a in [*args.posonlyargs, *args.args] if a.arg not in ("self", "cls")]
            if len(positional) > MAX_POSITIONAL or args.vararg is not None:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert found == []
