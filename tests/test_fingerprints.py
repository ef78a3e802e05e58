"""What a stored result's fingerprint follows: an experiment's code and the pgxlib modules it imports
(`store.fingerprint.code_files`). An edit to MAML must not make stale a result that runs no MAML, and the
micro-benchmarks (`bench.py`) belong to no result."""
import re

import pytest

from pgxlib.experiments import available
from pgxlib.store.fingerprint import code_files
from pgxlib.store.results import PACKAGE_DIR

RUNS_MAML = {"main_results", "ablations", "adaptation"}
"""The experiments that train MAML meta-policies (`training.cached_meta_rl` or `metarl.meta_train_groups`)."""
MAML_CALLS = re.compile(r"\b(cached_meta_rl|meta_train_groups)\(")


def fingerprinted(name: str, family: str = "cartpole") -> set[str]:
    return {p.relative_to(PACKAGE_DIR.parent).as_posix() for p in code_files(f"pgxlib.experiments.{name}", family)}


def test_the_maml_experiments_are_those_whose_code_trains_maml():
    calls = {name for name in available()
             if MAML_CALLS.search((PACKAGE_DIR / "experiments" / f"{name}.py").read_text(encoding="utf-8"))}
    assert calls == RUNS_MAML


@pytest.mark.parametrize("name", available())
def test_maml_enters_only_the_fingerprints_of_experiments_that_run_it(name):
    files = fingerprinted(name)
    assert f"pgxlib/experiments/{name}.py" in files
    assert ("pgxlib/rl/maml.py" in files) == (name in RUNS_MAML), sorted(files)


@pytest.mark.parametrize("name", available())
def test_no_experiment_fingerprints_the_benchmarks(name):
    assert "pgxlib/bench.py" not in fingerprinted(name)


def test_structure_does_not_fingerprint_the_speedup_experiment():
    assert "pgxlib/experiments/speedup.py" not in fingerprinted("structure")
