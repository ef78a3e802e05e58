"""The results store: caching, keys, staleness, atomic writes, NaN refusal, resumable stages, metadata.

A toy experiment (a test double registered by monkeypatching `experiments.get`) stands in for the real
ones, so that these tests exercise the store alone and run in well under a second each.
"""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pgxlib import experiments
from pgxlib import store as results
from pgxlib.config import ConfigError
from pgxlib.store import fingerprint
from pgxlib.store.cache import StageCache
from pgxlib.store.results import ResultError


class Toy:
    """A test double of an experiment module; counts compute calls and stage computations."""

    PARAMETERS = {"k": 2, "scale": 1.0}
    EXPECTED_KEYS = ("metrics.total", "arrays.values")

    def __init__(self):
        self.calls = 0
        self.stage_calls = 0
        self.fail_after_stage = False
        self.metrics_extra = {}
        self.arrays_extra = {}

    def check(self, profile, family, seed, k, scale):
        if not (isinstance(k, int) and k >= 1):
            raise ConfigError(f"invalid k={k!r}: allowed a positive integer")

    def compute(self, profile, family, seed, cache, k, scale):
        self.calls += 1

        def stage():
            self.stage_calls += 1
            return {"values": torch.arange(k, dtype=torch.float64) * scale, "note": "ok"}

        values = cache.get_or_compute("values", stage)["values"].numpy()
        if self.fail_after_stage:
            raise KeyboardInterrupt("interrupted after the first stage")
        return {"metrics": {"total": float(values.sum()), "k": k, "none_is_fine": None, **self.metrics_extra},
                "arrays": {"values": values, **self.arrays_extra},
                "stage_times": {"summing": 0.001},
                "config": {"k": k, "scale": scale, "nested": {"seed": seed + 7}}}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy experiment registered as "toy", results and runs in a temporary directory."""
    monkeypatch.setenv("PGX_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PGX_RUNS", str(tmp_path / "runs"))
    module = Toy()
    fingerprint = SimpleNamespace(value="a" * 64)
    real_get = experiments.get
    monkeypatch.setattr(experiments, "get", lambda name: module if name == "toy" else real_get(name))
    monkeypatch.setattr(experiments, "_fingerprint", lambda *_: {"sha256": fingerprint.value, "files": ["toy.py"]})
    module.fingerprint = fingerprint
    return module


def run(**kw):
    return experiments.run_experiment("toy", "smoke", "cartpole", **kw)


def test_cache_hit_computes_once(toy, tmp_path):
    first = run()
    second = run()
    assert toy.calls == 1
    assert first.fresh and not second.fresh and not second.stale
    assert second.path == first.path == tmp_path / "results" / "smoke" / "toy" / "cartpole-seed0"
    assert second.get("metrics.total") == pytest.approx(1.0)
    np.testing.assert_array_equal(second.get("arrays.values"), [0.0, 1.0])


def test_param_change_gives_new_key(toy):
    base = run()
    other = run(k=3)
    seeded = run(seed=1)
    assert toy.calls == 3
    assert len({base.path, other.path, seeded.path}) == 3
    assert other.path.name.startswith("cartpole-seed0-") and len(other.path.name) == len("cartpole-seed0-") + 8
    assert seeded.path.name == "cartpole-seed1"
    assert run(k=2).path == base.path and toy.calls == 3


def test_stale_when_fingerprint_changes_and_force_recomputes(toy):
    run()
    toy.fingerprint.value = "b" * 64
    stale = run()
    assert stale.stale and not stale.fresh and toy.calls == 1
    assert "Stale result" in results.provenance_markdown(stale)
    forced = run(force=True)
    assert forced.fresh and not forced.stale and toy.calls == 2
    assert not run().stale


def test_force_clears_the_stage_cache(toy):
    run()
    run(force=True)
    assert toy.stage_calls == 2


def test_crash_mid_write_leaves_no_result(toy, monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run()
    parent = tmp_path / "results" / "smoke" / "toy"
    assert list(parent.iterdir()) == []


def test_crash_while_replacing_keeps_the_old_result(toy, monkeypatch):
    old = run()

    def broken(*args, **kwargs):
        raise OSError("boom")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="boom"):
        run(force=True)
    assert [p.name for p in old.path.parent.iterdir()] == [old.path.name]
    assert results.read_result(old.path).get("metrics.total") == old.get("metrics.total")


def test_nan_and_inf_are_refused(toy, tmp_path):
    toy.metrics_extra = {"bad": [1.0, float("nan")]}
    with pytest.raises(ResultError, match=r"metrics\.bad\[1\]"):
        run()
    toy.metrics_extra = {}
    toy.arrays_extra = {"curve": np.array([1.0, np.inf])}
    with pytest.raises(ResultError, match="arrays.curve"):
        run()
    assert not (tmp_path / "results" / "smoke" / "toy" / "cartpole-seed0").exists()


def test_masked_nan_is_stored_as_mask(toy):
    toy.arrays_extra = {"scores": np.ma.masked_invalid([1.0, np.nan, 3.0])}
    run()
    loaded = run().get("arrays.scores")
    assert isinstance(loaded, np.ma.MaskedArray)
    assert loaded.mask.tolist() == [False, True, False] and loaded.sum() == 4.0


def test_result_json_is_strict_and_has_metadata(toy):
    result = run()
    text = (result.path / "result.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    meta = result.meta
    for key in ("parameters", "config", "seeds", "versions", "git", "stage_times", "total_time", "device",
                "timestamp", "fingerprint"):
        assert key in meta, key
    assert meta["parameters"] == {"profile": "smoke", "family": "cartpole", "seed": 0,
                                  "params": {"k": 2, "scale": 1.0}}
    assert meta["config"]["nested.seed"] == 7 and meta["seeds"]["nested.seed"] == 7
    assert set(meta["versions"]) >= {"python", "torch", "numpy", "gymnasium", "highway-env", "metaworld", "cvxpy",
                                     "scikit-learn", "pgxlib"}
    assert set(meta["git"]) == {"commit", "dirty"}
    assert set(meta["stage_times"]) == {"values", "summing"}
    assert {"cpu", "torch_device", "gpu"} <= set(meta["device"])
    assert meta["timestamp"].endswith("+00:00")
    assert result.get("metrics.none_is_fine") is None


def test_validation_happens_before_compute(toy):
    with pytest.raises(ConfigError, match="unknown parameter 'bogus'.*allowed profile, family, seed, k, scale"):
        run(bogus=1)
    with pytest.raises(ConfigError, match="invalid k=0"):
        run(k=0)
    with pytest.raises(ConfigError, match="invalid profile='huge'"):
        experiments.run_experiment("toy", "huge", "cartpole")
    with pytest.raises(ConfigError, match="invalid family='nosuch'"):
        experiments.run_experiment("toy", "smoke", "nosuch")
    assert toy.calls == 0


def test_unknown_experiment_name():
    with pytest.raises(ConfigError, match="invalid experiment='nosuch': allowed one of walkthrough, main_results"):
        experiments.get("nosuch")


def test_missing_expected_key_is_refused(toy):
    toy.EXPECTED_KEYS = ("metrics.total", "metrics.absent")
    with pytest.raises(ResultError, match="metrics.absent"):
        run()


def test_stage_cache_resumes_after_interruption(toy):
    toy.fail_after_stage = True
    with pytest.raises(KeyboardInterrupt):
        run()
    toy.fail_after_stage = False
    result = run()
    assert toy.stage_calls == 1 and toy.calls == 2
    assert result.meta["resumed_stages"] == ["values"]


def test_stage_cache_loads_with_weights_only(tmp_path, monkeypatch):
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k) or real_load(*a, **k))
    cache = StageCache(tmp_path / "run")
    value = cache.get_or_compute("s", lambda: {"t": torch.ones(2), "n": [1, 2.5, "x", None]})
    again = StageCache(tmp_path / "run").get_or_compute("s", lambda: pytest.fail("recomputed"))
    assert seen == [{"weights_only": True}]
    assert torch.equal(again["t"], value["t"]) and again["n"] == [1, 2.5, "x", None]


def test_stage_cache_refuses_and_never_unpickles_objects(tmp_path, capsys):
    cache = StageCache(tmp_path / "run")
    with pytest.raises(ResultError, match="cache tensors, numbers"):
        cache.get_or_compute("bad", lambda: {"obj": SimpleNamespace(a=1)})
    assert cache.stages() == []
    (tmp_path / "run").mkdir(exist_ok=True)  # the stage lock made it
    torch.save({"value": SimpleNamespace(a=1), "seconds": 0.0}, tmp_path / "run" / "planted.pt")
    assert cache.get_or_compute("planted", lambda: {"x": 1}) == {"x": 1}  # never unpickled: recomputed
    assert "planted.pt is unreadable (UnpicklingError): recomputing it" in capsys.readouterr().err


def test_stage_cache_cleared_when_code_changes(tmp_path):
    StageCache(tmp_path / "run", fingerprint="old").get_or_compute("s", lambda: {"x": 1})
    assert StageCache(tmp_path / "run", fingerprint="old").stages() == ["s"]
    assert StageCache(tmp_path / "run", fingerprint="new").stages() == []


def _fake_package(pkg, files, monkeypatch):
    """Write `files` (path -> text) under `pkg` and make the fingerprint read that package."""
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", pkg)


def test_code_fingerprint_follows_pgxlib_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "pgxlib"
    files = {
        "__init__.py": "",
        "config.py": "X = 1\n",
        "maths.py": "from .config import X\n",
        "cli.py": "import pgxlib.maths\n",
        "store/__init__.py": "",
        "unrelated.py": "Y = 2\n",
        "tasks/__init__.py": "from importlib import import_module\n",
        "tasks/family.py": "Z = 3\n",
        "experiments/__init__.py": "",
        "experiments/toy.py": ("import numpy\nfrom .. import store\nfrom ..cli import main\n"
                               "from ..tasks import import_module\n"
                               "def compute():\n    from pgxlib.maths import X\n"),
    }
    _fake_package(pkg, files, monkeypatch)
    fp = results.code_fingerprint("pgxlib.experiments.toy")
    assert fp["files"] == ["pgxlib/config.py", "pgxlib/experiments/toy.py", "pgxlib/maths.py",
                           "pgxlib/tasks/__init__.py", "pgxlib/tasks/family.py"]
    (pkg / "unrelated.py").write_text("Y = 3\n")
    (pkg / "cli.py").write_text("# changed\n")
    assert results.code_fingerprint("pgxlib.experiments.toy")["sha256"] == fp["sha256"]
    (pkg / "config.py").write_text("X = 2\n")
    assert results.code_fingerprint("pgxlib.experiments.toy")["sha256"] != fp["sha256"]


def test_code_fingerprint_of_one_family_and_profile(tmp_path, monkeypatch):
    pkg = tmp_path / "pgxlib"
    files = {
        "__init__.py": "",
        "profiles.py": "X = 1\nPROFILE_TABLE = {'default': {'a': {'k': 1}, 'b': {'k': 2}}}\n",
        "tasks/__init__.py": "from pgxlib.profiles import X\n",
        "tasks/base.py": "",
        "tasks/a.py": "A = 1\n",
        "tasks/b.py": "B = 1\n",
        "experiments/__init__.py": "",
        "experiments/toy.py": "from pgxlib.tasks import X\n",
    }
    _fake_package(pkg, files, monkeypatch)
    table = {"default": {"a": {"k": 1}, "b": {"k": 2}}}
    monkeypatch.setattr(fingerprint, "profile_entry", lambda profile, family, ignore=(): repr(
        {k: v for k, v in table[profile][family].items() if k not in ignore}))

    def sha(family=None):
        return results.code_fingerprint("pgxlib.experiments.toy", family=family,
                                        profile=None if family is None else "default")["sha256"]
    assert [f for f in results.code_fingerprint("pgxlib.experiments.toy", family="a")["files"] if "tasks/" in f] \
        == ["pgxlib/tasks/__init__.py", "pgxlib/tasks/a.py", "pgxlib/tasks/base.py"]
    before = {None: sha(), "a": sha("a"), "b": sha("b")}
    (pkg / "tasks/b.py").write_text("B = 2\n")
    table["default"]["b"] = {"k": 3}
    (pkg / "profiles.py").write_text("X = 1\nPROFILE_TABLE = {'default': {'a': {'k': 1}, 'b': {'k': 3}}}\n")
    assert sha("a") == before["a"]
    assert sha("b") != before["b"] and sha() != before[None]
    table["default"]["a"] = {"k": 5}
    assert sha("a") != before["a"]
    ignoring = results.code_fingerprint("pgxlib.experiments.toy", family="a", profile="default", ignore=("k",))
    table["default"]["a"] = {"k": 1}
    assert results.code_fingerprint("pgxlib.experiments.toy", family="a", profile="default",
                                    ignore=("k",))["sha256"] == ignoring["sha256"]
    (pkg / "profiles.py").write_text("X = 2\nPROFILE_TABLE = {'default': {'a': {'k': 1}, 'b': {'k': 3}}}\n")
    table["default"]["a"] = {"k": 1}
    assert sha("a") != before["a"]


def test_result_get_dotted_keys(tmp_path):
    result = results.Result(metrics={"a": {"b": [10, 20]}}, arrays={}, meta={}, path=tmp_path)
    assert result.get("metrics.a.b.1") == 20
    assert result.has("metrics.a") and not result.has("metrics.a.c")
    with pytest.raises(KeyError, match="metrics.a.c"):
        result.get("metrics.a.c")


class MainResultsDouble:
    """Stands in for the main_results experiment: stores the given per-seed scores of each method (seeds 0, 1, 2)."""

    PARAMETERS = {}
    EXPECTED_KEYS = ("metrics.methods",)
    seeds = {}

    def check(self, profile, family, seed):
        pass

    def compute(self, profile, family, seed, cache):
        methods = {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)), "seeds": list(map(float, v))}
                   for m, v in self.seeds[family].items()}
        return {"metrics": {"methods": methods}, "arrays": {}, "stage_times": {}, "config": {}}


def test_scorecard_judges_orders_on_paired_seeds_and_never_invents(monkeypatch, tmp_path):
    from pgxlib.report import main_results, scorecard

    monkeypatch.setenv("PGX_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PGX_RUNS", str(tmp_path / "runs"))
    double = MainResultsDouble()
    pgx = [110.0, 150.0, 70.0]  # seeds move every method together: the paired differences are what is steady
    double.seeds = {"cartpole": {"multitask": [100.0, 141.0, 59.0],            # PGX − it: +10, +9, +11
                                 "soft_modularization": [60.0, 100.0, 20.0],   # +50 each
                                 "paco": [130.0, 170.0, 90.0],                 # −20 each: refuted
                                 "random_grouping": [80.0, 180.0, 70.0],       # +30, −30, 0: undecided
                                 "gradient_similarity_grouping": [80.0, 120.0, 40.0],
                                 "policygradex": pgx}}
    real_get, real_implemented = experiments.get, experiments.implemented
    monkeypatch.setattr(experiments, "get", lambda n: double if n == "main_results" else real_get(n))
    monkeypatch.setattr(experiments, "implemented", lambda n: n == "main_results" or real_implemented(n))
    monkeypatch.setattr(experiments, "_fingerprint", lambda *_: {"sha256": "f", "files": []})
    experiments.run_experiment("main_results", "default", "cartpole")

    card = scorecard.build_scorecard("default", experiments).set_index("claim")
    note = f" ({main_results.PROTOCOL_NOTE})"
    row = card.loc["Main results, CartPole: Multi-task training below PolicyGradEx" + note]
    assert (row["ours"], row["status"], row["gap"], row["seeds"]) == ("100.0", "reproduced", "+10", "3")
    assert row["interval"] == "[+9, +11]" and row["P(improvement)"] == "1.00"
    assert "default" in row["profile & budget"] and row["result"] != "–"
    paco = card.loc["Main results, CartPole: PaCo below PolicyGradEx" + note]
    assert (paco["status"], paco["gap"], paco["seeds to decide"]) == ("refuted", "-20", "–")
    random = card.loc["Main results, CartPole: Random grouping below PolicyGradEx" + note]
    assert random["status"] == "undecided" and random["gap"] == "+0"
    assert int(random["seeds to decide"]) > 3
    above = ("Main results, CartPole: PolicyGradEx above Multi-task training, Soft Modularization, PaCo, "
             "Random grouping, Gradient-similarity grouping" + note)
    assert card.loc[above, "status"] == "refuted" and card.loc[above, "why"].startswith("vs PaCo:")
    unmeasured = card.loc["Main results, Highway: PaCo below PolicyGradEx" + note]
    assert (unmeasured["ours"], unmeasured["status"], unmeasured["gap"]) == ("–", "not yet measured", "–")
    assert "pgx run main_results --profile default -p family highway" in unmeasured["why"]
    measured = card[card["status"] != "not yet measured"]
    assert (measured["ours"] != "–").all()
    assert set(scorecard.summary(card.reset_index())) == set(scorecard.STATUSES)
    assert "within seed noise" not in set(card["status"]) and "not reproduced" not in set(card["status"])


def test_an_order_without_per_seed_values_is_undecided():
    from pgxlib.report.orders import Below, Positive
    from pgxlib.report.scorecard import NO_SEEDS, Metric

    lookup = _StubLookup({"a.mean": 11.0, "b.mean": 10.0, "s": 2.0})
    better, base = Metric("x", {}, "a.mean"), Metric("x", {}, "b.mean")
    verdict = Positive(better, base).judge(0.5, "return gap", lookup)
    assert (verdict.status, verdict.why) == ("undecided", NO_SEEDS)
    assert Below(better, "PolicyGradEx", base).judge(10.0, "", lookup).status == "undecided"


def test_positive_order_on_paired_seeds():
    from pgxlib.report.orders import Positive
    from pgxlib.report.scorecard import Metric

    better, base, multitask = (Metric("x", {}, k) for k in ("a.score", "b.score", "m.mean"))
    win = _StubLookup({"a.score": 5.0, "a.seeds": [5.0, 6.0, 4.0, 5.0, 5.0], "b.score": 3.0,
                       "b.seeds": [3.0, 4.0, 2.0, 3.0, 3.1], "s": 1.0, "m.mean": 0.0, "m.std": 1.0})
    verdict = Positive(better, base, multitask).judge(2.0, "return gap", win)
    assert verdict.status == "reproduced" and verdict.order.seeds == 5
    null = _StubLookup({"a.score": 3.0, "a.seeds": [3.0, 4.0, 2.0, 3.0, 3.0], "b.score": 3.0,
                        "b.seeds": [3.0, 4.0, 2.0, 3.0, 3.0], "s": 1.0, "m.mean": 0.0, "m.std": 10.0})
    verdict = Positive(better, base, multitask).judge(0.0, "return gap", null)
    assert verdict.status == "refuted" and verdict.order.smallest_effect == 5.0


class _StubResult:
    def __init__(self, values):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


class _StubLookup:
    def __init__(self, values):
        self.stub = _StubResult(values)

    def result(self, experiment, params):
        return self.stub, None


def test_the_spread_between_subsets_of_one_size_pools_the_sizes_with_two_subsets():
    from pgxlib.report.hessian_bound import SubsetSpread

    # sizes 1, 2, 10; size 10 has one subset (masked). Sample variances: 2.0 (1 vs 3), 8.0 (0 vs 4) -> std sqrt(5)
    gaps = np.ma.masked_invalid(np.array([[1.0, 3.0], [0.0, 4.0], [5.0, np.nan]]))
    lookup = _StubLookup({"arrays.group_gap": gaps, "one": 2.0})
    spread = SubsetSpread("planted", 10.0)
    assert spread.measure(lookup).value == pytest.approx(10 * np.sqrt(5.0))
    lonely = _StubLookup({"arrays.group_gap": np.ma.masked_invalid(np.array([[1.0, np.nan]]))})
    assert spread.measure(lonely).value is None and "no group size has two subsets" in spread.measure(lonely).problems[0]
