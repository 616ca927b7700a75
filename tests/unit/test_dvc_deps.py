"""Every code file a DVC stage imports is one of its ``deps``.

DVC re-runs a stage, and the version's fingerprint changes, only when a listed dependency changes. A
module the stage imports but does not list can change what the stage computes while DVC reports
"didn't change". Each stage's import closure inside ``components/`` is derived from the source
(every ``import``, including those inside functions) and compared with its deps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "components"


def module_file(name: str) -> Path | None:
    """The file of module ``name`` (``a.b`` → ``a/b.py`` or ``a/b/__init__.py``), None if not ours."""
    if name != PACKAGE and not name.startswith(f"{PACKAGE}."):
        return None
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def has_code(path: Path) -> bool:
    """False for a package ``__init__`` that holds nothing but a docstring."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def imported_modules(path: Path) -> set[str]:
    """Every module named by an import anywhere in ``path``; ``from a import b`` names ``a`` and ``a.b``
    (b may be a submodule), relative imports resolved against the file's package."""
    package = ".".join(path.parent.relative_to(ROOT).parts)  # a module's and an __init__'s alike
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_closure(module: str) -> set[Path]:
    """Files of ``components`` that running ``python -m module`` imports, parents' ``__init__`` included."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            path = module_file(".".join(parts[:depth]))
            if path is None or path in seen:
                continue
            seen.add(path)
            todo.extend(imported_modules(path))
    return {path for path in seen if path.name != "__init__.py" or has_code(path)}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(stages()))
def test_every_module_a_stage_imports_is_one_of_its_deps(stage: str) -> None:
    spec = stages()[stage]
    module = spec["cmd"].split("python -m ", 1)[1].split()[0]
    closure = import_closure(module)
    assert module_file(module) in closure
    missing = sorted(str(p.relative_to(ROOT)) for p in closure if not covered(p, spec["deps"]))
    assert not missing, f"stage {stage!r} imports files its deps do not list: {missing}"


def test_the_closure_follows_imports_inside_functions_and_relative_ones(tmp_path) -> None:
    closure = import_closure("components.stages.train")
    relative = {str(p.relative_to(ROOT)) for p in closure}
    assert "components/config/params.py" in relative  # through the package's __init__
    assert "components/modeling/target_logits.py" in relative  # two imports away
    assert "components/seeding.py" in relative
