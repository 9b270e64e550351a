"""The house's rules, checked on the source: calls run downhill, and only the kinds registry
knows kind names.

Apps stand in layers; a module may import only from its own app and from apps below it:

    core  <  annotation  <  review, hygiene, team  <  agreement, exports, routing
          <  evaluation, console, feedback, webhooks

(core imports no app; annotation imports neither review, agreement, exports nor console;
review imports neither agreement, exports nor console; agreement and exports not each other;
evaluation reads the agreement engine, and nothing but config imports it.)
"""

import ast
from pathlib import Path

import pytest

from annotation import kinds

ROOT = Path(__file__).resolve().parents[2]
LAYER = {
    "core": 0,
    "annotation": 1,
    "review": 2,
    "hygiene": 2,
    "team": 2,
    "agreement": 3,
    "exports": 3,
    "routing": 3,
    "evaluation": 4,
    "console": 4,
    "feedback": 4,
    "webhooks": 4,
}
KIND_CONSTANTS = {"INSTRUCTION", "PREFERENCE", "REFUSAL", "RUBRIC"}


def _modules(app: str, *, migrations: bool = True) -> list[Path]:
    return sorted(
        path for path in (ROOT / app).rglob("*.py") if migrations or "migrations" not in path.parts
    )


def _imported_apps(path: Path) -> set[tuple[str, int]]:
    """(app, line) of every import of a project app in the module, function-local ones too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYER:
                found.add((top, node.lineno))
    return found


def _uphill(app: str) -> list[str]:
    problems = []
    for path in _modules(app):
        for other, line in sorted(_imported_apps(path)):
            if other != app and LAYER[other] >= LAYER[app]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {other}")
    return problems


@pytest.mark.parametrize("app", sorted(LAYER))
def test_no_app_imports_an_app_above_or_beside_it(app):
    assert _uphill(app) == []


def test_the_layer_check_sees_a_function_local_import(tmp_path, monkeypatch):
    module = tmp_path / "core" / "bad.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from review import services\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _uphill("core") == ["core/bad.py:2 imports review"]


def _kind_names_used(path: Path) -> list[str]:
    """Places where a module branches on a kind: a comparison (==, !=, in, not in, a match
    case) with a string equal to a kind's name, or any use of a kinds constant
    (kinds.PREFERENCE, Kind.REFUSAL, ...). A string equal to a kind's name elsewhere (an
    Alpaca column is called "instruction") is not a branch."""
    names = set(kinds.names())
    found = []

    def literals(node: ast.AST) -> list[ast.Constant]:
        if isinstance(node, ast.Constant):
            return [node]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [c for element in node.elts for c in literals(element)]
        return []

    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        compared: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            compared = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            compared = [node.value]
        for operand in compared:
            for constant in literals(operand):
                if constant.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{constant.lineno} {constant.value!r}")
        if isinstance(node, ast.Attribute) and node.attr in KIND_CONSTANTS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    return found


@pytest.mark.parametrize("app", sorted(LAYER))
def test_no_module_outside_the_kinds_registry_names_a_kind(app):
    """What differs by kind lives in annotation/kinds/<kind>.py; everything else looks the
    kind up (migrations aside: they are history)."""
    found = []
    for path in _modules(app, migrations=False):
        if path.is_relative_to(ROOT / "annotation" / "kinds"):
            continue
        found.extend(_kind_names_used(path))
    assert found == []


def test_the_kind_check_sees_a_comparison_with_a_kind_name(tmp_path, monkeypatch):
    module = tmp_path / "bad.py"
    module.write_text(
        "def f(item):\n"
        '    return item.kind == "preference" or x == kinds.REFUSAL\n'
        'row = {"instruction": 1}\n'
        'ok = item.kind in ("instruction", "other")\n'
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert sorted(_kind_names_used(module)) == [
        "bad.py:2 'preference'",
        "bad.py:2 .REFUSAL",
        "bad.py:4 'instruction'",
    ]
