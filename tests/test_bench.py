"""`pgx bench --quick`: runs every section, writes its JSON with the machine, and prints the table."""
import json

import pytest

from pgxlib.cli import main


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
        assert set(s) >= {"floor", "sketch", "dense_cached", "dense_before"} and all(v > 0 for v in s.values())
        assert s["sketch"] < s["dense_cached"]                       # the point of the sketch
        assert 0.8 < row["gram_corr"]["sketch_d400"] <= 1 and 0.8 < row["gram_corr"]["gaussian_d400"] <= 1
    assert [r["m"] for r in result["surrogate"]] == [60, 240]
    assert {r["family"] for r in result["envs"]} == {"cartpole", "nav2d"}
    assert all(r["steps_per_s"] > 0 for r in result["envs"] + result["ppo"])
    assert {r["projection"] for r in result["stages"]} == {"gaussian", "sketch"}
    text = capsys.readouterr().out
    assert "features (ms; × floor)" in text and "4x400" in text and "surrogate" in text and str(out) in text
