"""The house plan: imports point one way (web → imagery → outfalls), each capability lives in one package,
and no module grows past what one person can read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what each top-level package may import of the others
ALLOWED = {"outfalls": {"outfalls"}, "imagery": {"imagery", "outfalls"}, "web": {"web", "imagery", "outfalls"}}
OURS = set(ALLOWED)


def _imports(path: Path) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(a.name.split(".")[0], node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for name, line in _imports(path) if name in OURS and name not in ALLOWED[package]]  # fmt: skip
    assert wrong == []


def test_views_do_not_import_each_other() -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "web" / "views").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("web.views")
             for line in [node.lineno]]  # fmt: skip
    assert wrong == []


def test_no_module_is_too_long_to_read() -> None:
    long = {str(p.relative_to(ROOT)): n for pkg in OURS for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}  # fmt: skip
    assert long == {}
