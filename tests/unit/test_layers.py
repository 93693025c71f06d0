"""The package's layers (docs/architecture.md): a module imports only from its own package
and the packages below it, so the shared layers never depend on the programs."""

import ast
from pathlib import Path

import nutpy

SRC = Path(nutpy.__file__).parent
# lower number = lower layer; packages of one rank must not import each other either
RANK = {"common": 0, "proto": 1, "security": 2, "client": 3, "drivers": 4, "upsd": 4,
        "upsmon": 5, "clients": 5, "sim": 5, "ops": 6, "cli": 6, "demo": 6}


def imported_packages(path: Path):
    """(line, top-level nutpy package) for every nutpy import in ``path``."""
    rel = path.relative_to(SRC)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                here = list(rel.parts[:-1])
                base = here[:len(here) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "nutpy":
                parts = node.module.split(".")[1:]
            else:
                continue
            targets = parts[:1] or [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1] for a in node.names
                       if a.name.startswith("nutpy.") and a.name.count(".") >= 1]
        else:
            continue
        for target in targets:
            yield node.lineno, target


def test_no_module_imports_from_a_layer_above_or_beside_it():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py")
        if package not in RANK:
            continue
        for lineno, target in imported_packages(path):
            if target in RANK and target != package and RANK[target] >= RANK[package]:
                wrong.append(f"{rel}:{lineno}: {package} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANK), packages - set(RANK)
