"""The layer picture of ARCHITECTURE.md, enforced: each layer is imported in a fresh interpreter and
what it pulls in is checked against what it may not load."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pgxlib"

MATHS = ["pgxlib.transitions", "pgxlib.estimate.projector", "pgxlib.estimate.features", "pgxlib.estimate.surrogate",
         "pgxlib.estimate.affinity", "pgxlib.cluster", "pgxlib.analysis.first_order", "pgxlib.analysis.hessian",
         "pgxlib.analysis.speedup", "pgxlib.analysis.stats", "pgxlib.partition", "pgxlib.estimate.scores",
         "pgxlib.estimate.gradient_similarity", "pgxlib.analysis.agreement", "pgxlib.analysis.scaling"]
"""Pure maths on tensors and arrays."""
REPORT = ["pgxlib.report.paper", "pgxlib.report.plots", "pgxlib.report.main_results", "pgxlib.report.ablations",
          "pgxlib.report.adaptation", "pgxlib.report.speedup", "pgxlib.report.first_order_error",
          "pgxlib.report.hessian_bound", "pgxlib.report.scorecard", "pgxlib.report.scale"]

ENVIRONMENTS = ["gymnasium", "highway_env", "metaworld", "Box2D", "pgxlib.tasks", "pgxlib.rollout"]
STORE = ["pgxlib.store"]
PLOTTING = ["matplotlib", "pandas"]
TRAINING = ["pgxlib.rl", "pgxlib.pipeline", "pgxlib.metarl", "pgxlib.methods", "pgxlib.training",
            "pgxlib.experiments", "pgxlib.nets", "pgxlib.evaluate"]

FORBIDDEN = {
    **{m: ENVIRONMENTS + STORE + PLOTTING + ["pgxlib.rl", "pgxlib.pipeline", "pgxlib.metarl", "pgxlib.methods",
                                              "pgxlib.training", "pgxlib.experiments", "pgxlib.evaluate"]
       for m in MATHS},
    **{m: ENVIRONMENTS + TRAINING for m in REPORT},
}


def loaded_modules(module: str) -> list[str]:
    """The modules present in `sys.modules` after importing `module` in a fresh interpreter."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _hits(loaded: list[str], forbidden: list[str]) -> list[str]:
    """The forbidden names (packages or modules) of which something was loaded."""
    return sorted(f for f in forbidden if any(m == f or m.startswith(f + ".") for m in loaded))


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_layer_loads_nothing_it_may_not(module):
    assert _hits(loaded_modules(module), FORBIDDEN[module]) == []


def _pgxlib_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pgxlib"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pgxlib"))
    return found


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_layer_names_nothing_it_may_not(module):
    """The same rules over every import statement of the module, lazy ones inside functions too."""
    path = PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")
    named = [m for m in _pgxlib_imports(path) if m.startswith("pgxlib")]
    assert _hits(named, [f for f in FORBIDDEN[module] if f.startswith("pgxlib")]) == []


def test_nothing_imports_the_command_line():
    importers = [p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*.py")
                 if p.name != "cli.py" and "pgxlib.cli" in _pgxlib_imports(p)]
    assert importers == []


def test_no_module_imports_a_layer_above_it():
    """Arrows point down: a lower layer never names a module of a higher one, not even lazily."""
    order = [("pgxlib.config", "pgxlib.executor", "pgxlib.timing"), ("pgxlib.tasks", "pgxlib.nets"),
             ("pgxlib.transitions", "pgxlib.rollout", "pgxlib.evaluate", "pgxlib.rl"),
             ("pgxlib.estimate", "pgxlib.cluster", "pgxlib.partition", "pgxlib.analysis"), ("pgxlib.store",),
             ("pgxlib.pipeline", "pgxlib.metarl", "pgxlib.methods", "pgxlib.training", "pgxlib.finetunes",
              "pgxlib.shared_stores"),
             ("pgxlib.experiments", "pgxlib.bench"),
             ("pgxlib.report",),
             ("pgxlib.book", "pgxlib.cli")]

    def level(module: str) -> int | None:
        for i, names in enumerate(order):
            if any(module == n or module.startswith(n + ".") for n in names):
                return i
        return None

    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        me = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mine = level(me)
        for other in _pgxlib_imports(path):
            theirs = level(other)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{me} -> {other}")
    assert sorted(upward) == []


def test_every_module_is_in_a_layer():
    """A new module must be placed in the picture (and in ARCHITECTURE.md)."""
    import pgxlib  # noqa: F401

    layered = ("pgxlib.config", "pgxlib.executor", "pgxlib.timing",
               "pgxlib.tasks", "pgxlib.nets", "pgxlib.transitions", "pgxlib.rollout",
               "pgxlib.evaluate", "pgxlib.rl", "pgxlib.estimate", "pgxlib.cluster", "pgxlib.partition",
               "pgxlib.analysis", "pgxlib.store", "pgxlib.pipeline", "pgxlib.metarl", "pgxlib.methods",
               "pgxlib.training", "pgxlib.finetunes", "pgxlib.shared_stores", "pgxlib.experiments", "pgxlib.bench",
               "pgxlib.report",
               "pgxlib.book", "pgxlib.cli")
    modules = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name != "pgxlib" and not any(name == n or name.startswith(n + ".") for n in layered):
            modules.append(name)
    assert modules == []
