"""`pgx bench --quick`: runs every section, writes its JSON with the machine, and prints the table."""
import json

import pytest
import torch

from pgxlib import bench
from pgxlib.cli import main
from pgxlib.estimate.features import compute_features, make_projector


@pytest.mark.slow
def test_bench_quick_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["seconds"] < 180
    machine = result["machine"]
    assert machine["torch_threads"] >= 1 and machine["versions"]["torch"] and "commit" in machine["git"]
    assert machine["device"]["cpu_count"] >= 1
    for row in result["features"]:
        s = row["seconds"]
        assert set(s) >= set(bench.FEATURE_METHODS) and all(v > 0 for v in s.values())
        assert s["sketch"] < s["dense_cached"]                       # the point of the sketch
        assert 0.8 < row["gram_corr"]["sketch_d400"] <= 1 and 0.8 < row["gram_corr"]["gaussian_d400"] <= 1
    assert [r["m"] for r in result["surrogate"]] == [60, 240]
    assert {r["family"] for r in result["envs"]} == {"cartpole", "nav2d"}
    assert all(r["steps_per_s"] > 0 for r in result["envs"] + result["ppo"])
    assert {r["projection"] for r in result["stages"]} == {"gaussian", "sketch"}
    text = capsys.readouterr().out
    assert "features (ms; × floor)" in text and "4x400" in text and "surrogate" in text and str(out) in text


@pytest.mark.parametrize("name", ["cartpole", "4x400"])
def test_todays_dense_path_computes_the_features_of_the_path_before_it(name):
    """The benchmark's `dense_before` (vmap, regenerated blocks) and `compute_features` (hooked backward, cached
    blocks) are two ways to the same numbers, so their ratio is a speedup and nothing else."""
    actor = bench.bench_actor(name)
    ro = bench.bench_rollout(actor, bench.ACTORS[name]["obs_dim"], 300)
    proj = make_projector(actor, 64, 3, "gaussian")
    torch.testing.assert_close(compute_features(actor, ro, proj, chunk_size=128, progress=False).G,
                               bench.dense_before(actor, ro, proj, chunk_size=128), rtol=1e-4, atol=1e-5)
