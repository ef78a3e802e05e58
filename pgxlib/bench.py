"""`pgx bench`: micro-benchmarks of every costly piece and the stage costs of a whole run, as one JSON.

Figures that matter are ratios measured in one run on one machine (neighbours on a shared machine move
absolute times, much less their ratios):

- features: per actor size, the batched backward of the same batch (the floor) against the dense projection
  as it was (`vmap` per-sample gradients, blocks regenerated per chunk), today's dense path (per-sample
  gradients from one hooked backward, with and without cached blocks), and the sketch (timed in interleaved
  rounds after a warm-up; median of 5, or of 2 for the dense paths); their peak memory (full run, each in a
  fresh process after a small warm-up call, `PEAK_ENV`) and fidelity (correlation of the Gram matrix of
  per-sample gradients with the exact one);
- surrogate time (and peak memory, full run) against the number of subsets m;
- SDP (SCS) time against n; environment steps/s per family; PPO steps/s;
- the stage times of a whole `smoke` run (without group training) against the number of tasks n; `rest` is
  the subsets, the affinity and the clustering.

`run_bench(quick)` returns the result; `format_table` renders it; the command line writes and prints them.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pgxlib.config import NetConfig
from pgxlib.profiles import pipeline_config
from pgxlib.estimate.features import GradFeatures, compute_features, make_projector, per_sample_grads
from pgxlib.nets import Actor, actor_params
from pgxlib.timing import peak_rss_kib, reset_peak_rss  # noqa: F401  (`_peak_mib`'s subprocess calls them as bench.*)
from pgxlib.transitions import Rollout

ACTORS = {
    "cartpole": dict(obs_dim=4, discrete=True, action_dim=2, n_tasks=10, depth=4, width=64),
    "4x400": dict(obs_dim=39, discrete=False, action_dim=4, n_tasks=10, depth=4, width=400),
}
"""The cartpole actor of the `default` profile (p = 13.6k) and a Meta-World-sized one (p = 503k)."""


def _median_time(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> float:
    """Median wall time of `repeats` calls (after one warm-up call unless told not to), seconds."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


PEAK_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
"""The environment of a peak-memory measurement: glibc then serves every block of 64 KiB or more by mmap and
gives it back on free, so that the peak resident memory follows the live tensors instead of the allocator's
arenas (without it, repeats of one measurement differ by tens of MiB)."""


def _peak_mib(fn: Callable, *args, warmup_args: tuple | None = None) -> float:
    """Peak resident memory added by running the callable that `fn(*args)` returns, MiB: in a fresh Python
    process (so that earlier peaks do not hide it) with `PEAK_ENV`, once the callable's inputs are built and,
    when `warmup_args` is given, once `fn(*warmup_args)()` has run (so that one-time costs, such as lazily loaded
    code, are not counted), the peak is reset to the current resident memory (`reset_peak_rss`; where it cannot
    be, the rise over the peak so far is taken) and the rise of the peak over it is returned. `fn` is a function
    of this module; `args` are plain values."""
    warm = "" if warmup_args is None else f"bench.{fn.__name__}(*json.loads({json.dumps(json.dumps(warmup_args))}))(); "
    code = (f"import json, torch; torch.set_num_threads(1); from pgxlib import bench; {warm}"
            f"work = bench.{fn.__name__}(*json.loads({json.dumps(json.dumps(args))})); "
            f"before = bench.reset_peak_rss() or bench.peak_rss_kib(); work(); "
            f"print(json.dumps((bench.peak_rss_kib() - before) / 1024))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **PEAK_ENV})
    return float(out.stdout.strip().splitlines()[-1])


def bench_actor(name: str, seed: int = 0) -> Actor:
    """A fresh actor of `ACTORS[name]`."""
    spec = ACTORS[name]
    torch.manual_seed(seed)
    return Actor(spec["obs_dim"], spec["discrete"], spec["action_dim"], spec["n_tasks"],
                 NetConfig(depth=spec["depth"], width=spec["width"]))


def bench_rollout(actor: Actor, obs_dim: int, batch: int, seed: int = 0) -> Rollout:
    """`batch` synthetic transitions: random observations and task ids, actions drawn from the actor."""
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, obs_dim, generator=gen)
    task_id = torch.randint(0, actor.n_tasks, (batch,), generator=gen)
    torch.manual_seed(seed)
    with torch.no_grad():
        actions = actor.distribution(obs, task_id).sample()
    adv = torch.randn(batch, generator=gen)
    zeros = torch.zeros(batch)
    return Rollout(obs=obs, actions=actions, logp=zeros, values=zeros, advantages=adv, returns=adv, task_id=task_id)


FEATURE_METHODS = ("floor", "sketch", "dense_cached", "dense_uncached", "dense_before")
"""floor: one batched backward of the same batch; sketch: `projection="sketch"`; dense_cached: today's dense
path (per-sample gradients from one hooked backward, projection blocks generated once); dense_uncached: the same
with blocks regenerated per chunk; dense_before: the dense path as it was (`vmap` per-sample gradients, blocks
regenerated per chunk)."""


def dense_before(actor: Actor, rollout: Rollout, projector, chunk_size: int = 256) -> torch.Tensor:
    """The dense features [N, d] as `compute_features` computed them before the hooked backward and the cache:
    `vmap` per-sample gradients of each chunk, projected with blocks regenerated for every chunk."""
    params = actor_params(actor)
    G = torch.empty(len(rollout), projector.d)
    for start in range(0, len(rollout), chunk_size):
        sl = slice(start, min(start + chunk_size, len(rollout)))
        G[sl] = projector.project(per_sample_grads(actor, params, rollout.obs[sl], rollout.task_id[sl],
                                                   rollout.actions[sl]))
    return G


def _features_work(name: str, method: str, batch: int, d: int) -> Callable[[], Any]:
    """A callable doing one features computation by `method` (one of `FEATURE_METHODS`) on a fresh actor and
    rollout of `batch` transitions."""
    actor = bench_actor(name)
    ro = bench_rollout(actor, ACTORS[name]["obs_dim"], batch)
    if method == "floor":
        def floor():
            actor.zero_grad()
            actor.log_prob(ro.obs, ro.task_id, ro.actions).sum().backward()
        return floor
    proj = make_projector(actor, d, 0, "sketch" if method == "sketch" else "gaussian")
    if method == "dense_before":
        return lambda: dense_before(actor, ro, proj)
    kw = {"cache_bytes": 0} if method == "dense_uncached" else {}
    return lambda: compute_features(actor, ro, proj, progress=False, **kw)


def gram_fidelity(name: str, projection: str, d: int, n: int = 256, seed: int = 0) -> float:
    """Correlation between the Gram matrix of `n` exact per-sample gradients of actor `name` and that of their
    features."""
    actor = bench_actor(name)
    ro = bench_rollout(actor, ACTORS[name]["obs_dim"], n, seed)
    G = per_sample_grads(actor, actor_params(actor), ro.obs, ro.task_id, ro.actions).double()
    F = make_projector(actor, d, seed, projection).project(G)
    return float(np.corrcoef((G @ G.T).flatten().numpy(), (F @ F.T).flatten().numpy())[0, 1])


def bench_features(quick: bool) -> list[dict]:
    """Per actor: every method warmed up once on 256 rows, then timed in interleaved rounds (so that a
    neighbour's load falls on all of them alike); the median of each method's rounds."""
    batch, d = (512, 400) if quick else (2048, 400)
    repeats = {"floor": 3, "sketch": 3, "dense_cached": 1, "dense_uncached": 1, "dense_before": 1} if quick else \
        {"floor": 5, "sketch": 5, "dense_cached": 2, "dense_uncached": 2, "dense_before": 2}
    rows = []
    for name in ACTORS:
        actor = bench_actor(name)
        row: dict[str, Any] = {"actor": name, "p": sum(v.numel() for v in actor.parameters()), "batch": batch,
                               "d": d, "seconds": {}}
        works = {method: _features_work(name, method, batch, d) for method in repeats}
        for method in repeats:
            _features_work(name, method, 256, d)()
        times: dict[str, list[float]] = {method: [] for method in repeats}
        for r in range(max(repeats.values())):
            for method, work in works.items():
                if r < repeats[method]:
                    times[method].append(_timed_once(work))
        row["seconds"] = {method: statistics.median(t) for method, t in times.items()}
        floor = row["seconds"]["floor"]
        row["ratio_to_floor"] = {k: v / floor for k, v in row["seconds"].items()}
        row["dense_speedup"] = row["seconds"]["dense_before"] / row["seconds"]["dense_cached"]
        row["cache_speedup"] = row["seconds"]["dense_uncached"] / row["seconds"]["dense_cached"]
        n_gram = 128 if quick else 256
        row["gram_corr"] = {"gaussian_d400": gram_fidelity(name, "gaussian", d, n_gram),
                            "sketch_d400": gram_fidelity(name, "sketch", d, n_gram)}
        if not quick:
            row["gram_corr"]["sketch_d2000"] = gram_fidelity(name, "sketch", 2000, n_gram)
            row["seconds"]["sketch_d2000"] = _median_time(_features_work(name, "sketch", batch, 2000), 3)
            row["peak_mib"] = {m: _peak_mib(_features_work, name, m, batch, d, warmup_args=(name, m, 64, d))
                               for m in FEATURE_METHODS}
            row["output_mib"] = batch * d * 4 / 2**20
        rows.append(row)
    return rows


def synthetic_features(n: int, per_task: int, d: int, seed: int = 0) -> GradFeatures:
    """Features of `n` tasks with their own means and coefficients (a stand-in for real ones of that size)."""
    gen = torch.Generator().manual_seed(seed)
    tid = torch.arange(n).repeat_interleave(per_task)
    N = tid.numel()
    G = 0.3 * torch.randn(N, d, generator=gen) + 0.2 * torch.randn(n, d, generator=gen)[tid]
    adv = (G * torch.randn(n, d, generator=gen)[tid]).sum(1) / math.sqrt(d) + torch.randn(N, generator=gen)
    adv = (adv - adv.mean()) / adv.std()
    return GradFeatures(G=G, y=torch.where(adv >= 0, 1.0, -1.0), w=adv.abs(), adv=adv, task_id=tid,
                        heldout=torch.rand(N, generator=gen) < 0.25, proj_dim=d, n_params=1)


def random_subsets(n: int, m: int, size: int, seed: int = 0) -> np.ndarray:
    """`m` uniformly random subsets of `size` of `n` tasks, bool [m, n] (no coverage completion: exactly m)."""
    rng = np.random.default_rng(seed)
    members = np.zeros((m, n), dtype=bool)
    for row in members:
        row[rng.choice(n, size, replace=False)] = True
    return members


def _surrogate_work(n: int, per_task: int, d: int, m: int) -> Callable[[], Any]:
    from pgxlib.estimate.surrogate import fit_subsets

    feats = synthetic_features(n, per_task, d)
    members = random_subsets(n, m, 4)
    return lambda: fit_subsets(feats, members, 1.0, 200)


def bench_surrogate(quick: bool) -> list[dict]:
    """`fit_subsets` on m random subsets of 4 of n synthetic tasks (N = n·per_task rows, d = 400)."""
    n, per_task, d = (20, 200, 400) if quick else (100, 200, 400)
    rows = []
    for m in ((60, 240) if quick else (60, 500, 1500, 4950)):
        work = _surrogate_work(n, per_task, d, m)
        row = {"n": n, "N": n * per_task, "d": d, "m": m, "seconds": _timed_once(work)}
        if not quick:
            row["peak_mib"] = _peak_mib(_surrogate_work, n, per_task, d, m)
        rows.append(row)
    return rows


def _timed_once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_sdp(quick: bool) -> list[dict]:
    from pgxlib.cluster import sdp_solve

    rows = []
    for n in ((10, 50) if quick else (10, 25, 50, 100, 200)):
        rng = np.random.default_rng(n)
        labels = rng.integers(0, 3, n)
        U = (labels[:, None] == labels[None, :]) + 0.3 * rng.standard_normal((n, n))
        rows.append({"n": n, "k": 3, "seconds": _timed_once(lambda: sdp_solve(U, k=3))})
    return rows


def bench_envs(quick: bool) -> list[dict]:
    from pgxlib.rollout import TaskVecEnv
    from pgxlib.tasks import make_family

    families = ("cartpole", "nav2d") if quick else ("cartpole", "nav2d", "planted", "lunarlander", "highway")
    rows = []
    for name in families:
        fam = make_family(name, 4, 0)
        env = TaskVecEnv(fam, list(fam.source), list(range(4)), 1, 0)
        steps = (200 if quick else 2000) // (20 if name == "highway" else 1)
        env.envs.action_space.seed(0)
        start = time.perf_counter()
        for _ in range(steps):
            env.envs.step(env.envs.action_space.sample())
        seconds = time.perf_counter() - start
        rows.append({"family": name, "envs": env.n_envs, "steps_per_s": steps * env.n_envs / seconds})
        env.close()
    return rows


def bench_ppo(quick: bool) -> list[dict]:
    from pgxlib.nets import new_policy
    from pgxlib.rl.ppo import train_ppo
    from pgxlib.tasks import make_family

    rows = []
    for name in (("cartpole",) if quick else ("cartpole", "nav2d")):
        cfg = pipeline_config("default", name, n_tasks=4)
        fam = make_family(name, 4, 0)
        policy = new_policy(fam, cfg, 0, "cpu")
        ppo = dataclasses.replace(cfg.meta_ppo, steps_per_task=1024 if quick else 8192)
        seconds = _timed_once(lambda: train_ppo(policy, fam, list(range(4)), ppo, 0, "cpu", progress=False))
        rows.append({"family": name, "steps": 4 * ppo.steps_per_task, "steps_per_s": 4 * ppo.steps_per_task / seconds})
    return rows


def bench_stages(quick: bool) -> list[dict]:
    """A `smoke` nav2d run without group training per n, with a fresh θ* (stage caches in a temporary
    directory) and the dense projection, then on the same θ* with the sketch (its θ* is loaded, not trained)."""
    import tempfile

    from pgxlib.pipeline import run_policygradex
    from pgxlib.store.cache import MemoryCache

    rows = []
    saved = os.environ.get("PGX_RUNS")
    with tempfile.TemporaryDirectory() as runs:
        os.environ["PGX_RUNS"] = runs
        try:                                                       # warm-up: imports and first calls
            run_policygradex(pipeline_config("smoke", "nav2d", n_tasks=4, seed=1), MemoryCache(), progress=False,
                             train_groups_too=False)
            for n in ((4,) if quick else (10, 25, 50, 100)):
                for projection in ("gaussian", "sketch"):
                    cfg = pipeline_config("smoke", "nav2d", n_tasks=n, k=min(3, n), projection=projection)
                    cache = MemoryCache()
                    start = time.perf_counter()
                    run_policygradex(cfg, cache, progress=False, train_groups_too=False)
                    total = time.perf_counter() - start
                    stages = dict(cache.times)
                    if projection == "sketch":
                        stages.pop("meta_train", None)
                    stages["rest"] = total - sum(stages.values())    # subsets, affinity, SDP and rounding
                    rows.append({"family": "nav2d", "profile": "smoke", "n": n, "projection": projection,
                                 "total": total, "stages": stages})
        finally:
            if saved is None:
                os.environ.pop("PGX_RUNS", None)
            else:
                os.environ["PGX_RUNS"] = saved
    return rows


def machine() -> dict[str, Any]:
    from pgxlib.store.provenance import device_info, git_state, package_versions, utc_now

    return {"device": device_info(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "versions": package_versions(), "git": git_state(), "utc": utc_now()}


SECTIONS = {"features": bench_features, "surrogate": bench_surrogate, "sdp": bench_sdp, "envs": bench_envs,
            "ppo": bench_ppo, "stages": bench_stages}


def run_bench(quick: bool = False, threads: int = 1, sections: tuple[str, ...] = tuple(SECTIONS),
              say: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Every section of `SECTIONS` (or those named), with `threads` torch threads; the result as a dict."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    out: dict[str, Any] = {"quick": quick, "machine": machine()}
    for name in sections:
        say(f"bench: {name}")
        t = time.perf_counter()
        out[name] = SECTIONS[name](quick)
        out.setdefault("section_seconds", {})[name] = time.perf_counter() - t
    out["seconds"] = time.perf_counter() - start
    return out


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as plain-text tables (times in ms, ratios to the floor)."""
    lines = []
    m = result["machine"]
    lines.append(f"{m['device']['cpu']} ({m['device']['cpu_count']} cores), torch {m['versions'].get('torch')}, "
                 f"{m['torch_threads']} thread(s), commit {str(m['git'].get('commit'))[:10]}, "
                 f"{'quick' if result['quick'] else 'full'} run, {result['seconds']:.0f} s")
    if "features" in result:
        lines += ["", "features (ms; × floor)          floor   sketch     dense cached   dense uncached     "
                      "dense before   speedup  cache gain  Gram corr dense/sketch"]
        for r in result["features"]:
            s, x = r["seconds"], r["ratio_to_floor"]
            dense = "".join(f" {1e3 * s[k]:8.0f} ({x[k]:5.0f}×)" for k in ("dense_cached", "dense_uncached", "dense_before"))
            lines.append(f"{r['actor']:>8} p={r['p']:<7} B={r['batch']:<5} {1e3 * s['floor']:7.1f} "
                         f"{1e3 * s['sketch']:7.1f} ({x['sketch']:4.1f}×){dense} {r['dense_speedup']:6.2f}× "
                         f"{r['cache_speedup']:6.2f}×     {r['gram_corr']['gaussian_d400']:.3f}/"
                         f"{r['gram_corr']['sketch_d400']:.3f}")
            if "peak_mib" in r:
                pk = r["peak_mib"]
                lines.append(f"{'':>8} peak MiB: floor {pk['floor']:.1f}, sketch {pk['sketch']:.1f} (target ≤ 2 × floor "
                             f"+ output = {2 * pk['floor'] + r['output_mib']:.1f}), dense cached {pk['dense_cached']:.0f}, "
                             f"uncached {pk['dense_uncached']:.0f}, before {pk['dense_before']:.0f}; output "
                             f"{r['output_mib']:.1f}; sketch d=2000: {1e3 * s['sketch_d2000']:.0f} ms, Gram corr "
                             f"{r['gram_corr']['sketch_d2000']:.3f}")
    if "surrogate" in result:
        lines += ["", "surrogate (d, N): m -> seconds (peak MiB)"]
        lines.append("  " + ", ".join(f"m={r['m']}: {r['seconds']:.1f} s"
                                      + (f" ({r['peak_mib']:.0f} MiB)" if "peak_mib" in r else "")
                                      for r in result["surrogate"])
                     + f"   [n={result['surrogate'][0]['n']}, N={result['surrogate'][0]['N']}, "
                       f"d={result['surrogate'][0]['d']}]")
    if "sdp" in result:
        lines += ["", "SDP (SCS, k=3): " + ", ".join(f"n={r['n']}: {r['seconds']:.2f} s" for r in result["sdp"])]
    if "envs" in result:
        lines += ["", "env steps/s: " + ", ".join(f"{r['family']} {r['steps_per_s']:,.0f}" for r in result["envs"])]
    if "ppo" in result:
        lines += ["PPO steps/s: " + ", ".join(f"{r['family']} {r['steps_per_s']:,.0f}" for r in result["ppo"])]
    if "stages" in result:
        lines += ["", "stage seconds of a smoke run (nav2d)"]
        for r in result["stages"]:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
            lines.append(f"  n={r['n']:<4} {r['projection']:<8} total {r['total']:6.1f}: {stages}")
    return "\n".join(lines)


def default_path(quick: bool) -> Path:
    """``results/bench/quick.json`` or ``results/bench/full.json`` (under ``$PGX_RESULTS`` when set)."""
    from pgxlib.store.results import results_root

    return results_root() / "bench" / ("quick.json" if quick else "full.json")


def write_bench(result: dict[str, Any], path: Path) -> Path:
    """Write `result` as JSON to `path` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
