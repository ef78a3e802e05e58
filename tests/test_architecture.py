"""The layer picture of ARCHITECTURE.md, enforced over every module of the package: each module is placed in a
layer by its folder or file name, every import statement (lazy ones too) points down or sideways, a few layers
may not use some layers below them, and the maths and reporting layers are imported in a fresh interpreter to
check what they pull in."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pgxlib"

LAYERS = (
    ("configuration", ("checks", "config", "paper", "profiles", "executor", "timing")),
    ("task families and networks", ("tasks/", "nets")),
    ("maths", ("transitions", "estimate/", "cluster", "partition", "analysis/")),
    ("environments and learners", ("rollout", "evaluate", "rl/")),
    ("store", ("store/",)),
    ("pipeline", ("shared_stores", "finetunes", "truth", "pipeline", "metarl", "methods", "training")),
    ("report", ("report/",)),
    ("experiments", ("experiments/", "bench")),
    ("face", ("book/", "cli")),
)
"""Layers from the bottom, each with its folders (``name/``: the package and every module inside it) and modules
(``name``: ``pgxlib/name.py``) of `pgxlib`. A module may import its own layer and the layers below it."""

NOT_BELOW = {
    "maths": ("tasks/",),
    "report": ("tasks/", "nets", "rollout", "evaluate", "rl/", "shared_stores", "finetunes", "truth", "pipeline", "metarl",
               "methods", "training"),
}
"""What a layer may not import although it lies below it: the maths builds no environment, and the report reads
stored results (configuration, maths, store) without touching environments, networks or training."""

ENVIRONMENTS = ("gymnasium", "highway_env", "metaworld", "Box2D")
PLOTTING = ("matplotlib", "pandas")
NOT_LOADED = {"maths": ENVIRONMENTS + PLOTTING, "report": ENVIRONMENTS}
"""Third-party packages a layer may not load, directly or through anything it imports."""


def module_name(path: Path) -> str:
    """``pgxlib.estimate.features`` for ``pgxlib/estimate/features.py``, ``pgxlib.report`` for its ``__init__``."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def _matches(module: str, member: str) -> bool:
    name = "pgxlib." + member.rstrip("/")
    return module == name or (member.endswith("/") and module.startswith(name + "."))


def layer_of(module: str) -> int | None:
    """The index in `LAYERS` of the layer holding `module`, None when no layer does."""
    found = [i for i, (_, members) in enumerate(LAYERS) for m in members if _matches(module, m)]
    return found[0] if found else None


def _layer(name: str) -> int:
    return [n for n, _ in LAYERS].index(name)


def imports_of(path: Path) -> set[str]:
    """The pgxlib modules named by every import statement of one file, lazy ones inside functions too
    (``from pgxlib import experiments`` names ``pgxlib.experiments``)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("pgxlib"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pgxlib"))
    return found


def test_every_module_is_in_a_layer():
    """A new module is placed by its folder; a new top-level module must be added to `LAYERS` (and to
    ARCHITECTURE.md)."""
    assert [m for m in MODULES if m != "pgxlib" and layer_of(m) is None] == []


def test_the_layers_keep_their_order():
    """What ARCHITECTURE.md promises: the maths below the environments and learners, the report below the
    experiments (it reads stored results), the command line and the book on top."""
    assert _layer("maths") < _layer("environments and learners") < _layer("pipeline")
    assert _layer("store") < _layer("report") < _layer("experiments") < _layer("face")
    for module in ("pgxlib.estimate.scores", "pgxlib.estimate.gradient_similarity", "pgxlib.analysis.agreement",
                   "pgxlib.analysis.scaling", "pgxlib.analysis.verdicts"):
        assert layer_of(module) == _layer("maths")
    assert layer_of("pgxlib.report.claims") == _layer("report") and layer_of("pgxlib.book.pages") == _layer("face")
    assert layer_of("pgxlib.bench") == _layer("experiments") and layer_of("pgxlib.rl.maml") < _layer("store")


def violation(me: str, other: str) -> str | None:
    """Why module `me` may not import module `other` (None when it may)."""
    mine, theirs = layer_of(me), layer_of(other)
    if other == "pgxlib.cli":
        return "nothing imports the command line"
    if theirs is None or other == "pgxlib":
        return None
    if theirs > mine:
        return f"{LAYERS[theirs][0]} is above {LAYERS[mine][0]}"
    if any(_matches(other, m) for m in NOT_BELOW.get(LAYERS[mine][0], ())):
        return f"a {LAYERS[mine][0]} module may not use it"
    return None


def test_every_import_points_down_or_sideways():
    """Every import statement of every module, lazy ones too: never a layer above, never what `NOT_BELOW` keeps
    from a layer, and nothing imports the command line."""
    wrong = [f"{module_name(path)} -> {other}: {why}" for path in PACKAGE.rglob("*.py") if path != PACKAGE / "__init__.py"
             for other in sorted(imports_of(path)) if (why := violation(module_name(path), other))]
    assert sorted(wrong) == []


def test_the_rules_refuse_a_wrong_import():
    """An experiment imported by the report, training by the maths, an environment by the report, the command line
    by the book: each is refused; reading the store from the report and the report from an experiment are not."""
    assert violation("pgxlib.report.speedup", "pgxlib.experiments.speedup")
    assert violation("pgxlib.estimate.features", "pgxlib.rl.ppo")
    assert violation("pgxlib.report.mt10", "pgxlib.tasks.metaworld")
    assert violation("pgxlib.book.pages", "pgxlib.cli")
    assert violation("pgxlib.report.scorecard", "pgxlib.store.results") is None
    assert violation("pgxlib.experiments.speedup", "pgxlib.report.speedup") is None


def _loaded_per_module(modules: list[str]) -> dict[str, list[str]]:
    """Import `modules` one after another in a fresh interpreter: what each newly adds to `sys.modules` (a module
    pulled in by an earlier one is charged to that one)."""
    code = ("import json, sys, importlib\nout = {}\nfor m in json.loads(sys.argv[1]):\n"
            "    before = set(sys.modules)\n    importlib.import_module(m)\n"
            "    out[m] = sorted(set(sys.modules) - before)\nprint(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(modules)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("layer", sorted(NOT_LOADED))
def test_a_layer_loads_nothing_it_may_not(layer):
    """Imported for real: a maths module loads no environment, plotting or module above it; a report module loads
    no environment, task family, network or training code."""
    index = _layer(layer)
    mine = [m for m in MODULES if layer_of(m) == index]
    barred = NOT_BELOW.get(layer, ())
    wrong = []
    for module, loaded in _loaded_per_module(mine).items():
        for name in loaded:
            theirs = layer_of(name) if name.startswith("pgxlib.") else None
            if (theirs is not None and (theirs > index or any(_matches(name, m) for m in barred))) \
                    or name.split(".")[0] in NOT_LOADED[layer]:
                wrong.append(f"{module} loads {name}")
    assert mine
    assert wrong == []
