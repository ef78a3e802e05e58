"""The ablations chapter: one knob of PolicyGradEx at a time, on one family and seed.

The reference run is the profile's configuration (k, d, m, subset size, depth). Each knob value
re-runs `run_policygradex` from the same θ* with that one field changed; stages that do not depend
on the knob are shared (θ*, the rollout and features for k, m and subset size; the surrogate for k).
A partition is scored by the meta-RL protocol of the main results (`training.cached_meta_rl`: MAML
per group, target tasks adapted and evaluated). Knobs:

- ``k``: groups by SDP for each k; score.
- ``proj_dim``: gradient features recomputed at each d (same rollout, a fresh projection), surrogate,
  SDP at the profile's k; NMI of each clustering against the reference d's; score when ``train_sweeps``.
- ``projection``: the same at the reference d with each projection of `config.PROJECTIONS` (the paper's
  dense Gaussian, and the structured sketch of Linear layers); the NMI and the correlation of the
  affinities against the dense reference are the sketch's fidelity.
- ``n_subsets`` (m) and ``subset_size``: new random subsets on the reference features; NMI against
  the reference clustering; score when ``train_sweeps``.
- ``depth``: the whole pipeline with a policy of that many hidden layers (its own θ*); score.
- ``strategy``: on the reference affinity U: SDP (loss-based, PolicyGradEx), spectral clustering of
  the same U, the gradient-similarity baseline (SDP on per-task gradient cosine similarity), random.

The meta-RL stage is keyed by the partition, so a partition found by several knob values is trained
once (all with the same `cfg.maml` budget and `cfg.meta_rl` evaluation).

Paired seeds: the knobs that compare groupings or k (``k``, ``strategy``) also run on every seed of
``paired_seeds`` (offsets from ``seed``, as the main results' ``seeds``; 0 must be among them), each from that
seed's own θ* (`pipeline_config` with seed ``seed + s``, the main results' configuration), so that two knob values
can be compared per seed (same θ*, same targets). ``metrics.<knob>.by_value.<v>.seeds`` holds the score per paired
seed (in ``metrics.paired_seeds`` order) and ``score`` their mean; the rows, groups and NMIs are those of
``seed``. The other knobs stay on ``seed``. θ* and the meta-RL trainings live in the shared stores, keyed by seed,
starting policy and partition, so every training the main results already made on a seed (multitask = k=1,
PolicyGradEx = the reference k and SDP, random and gradient-similarity grouping) is reused, and a resumed run
reuses every seed's finished stages (``seed<s>-`` in the run's cache). ``paired_seeds=None`` is ``[0]`` on the
smoke profile and `DEFAULT_PAIRED_SEEDS` (the main results' default seeds) on the others.

On Meta-World (MT10) only the paper's ablation of the number of groups is run (`compute_k_multi_objective`,
``ks`` default 1..4, on every paired seed), on the multi-objective protocol of the main results: for each k,
PolicyGradEx's groups from the same θ*, one `methods.GROUP_ARCH` policy per group trained from scratch on its
tasks, every task evaluated with its group's policy; score = success rate over the tasks. The trainings are shared with the main
results (`training.trained_groups`): k = 1 is the Soft Modularization baseline, the profile's k is PolicyGradEx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pgxlib.analysis.speedup import offdiag_corr
from pgxlib.analysis.stats import finite_mean
from pgxlib.analysis.agreement import nmi
from pgxlib.cluster import labels_key, random_grouping, spectral_cluster
from pgxlib.config import PROJECTIONS, ConfigError, check_choice, check_int_list, progress_default
from pgxlib.profiles import apply_overrides, pipeline_config
from pgxlib.estimate.gradient_similarity import gradient_similarity_labels, task_mean_gradients
from pgxlib.methods import GROUP_ARCH, cached_meta_rl, trained_groups
from pgxlib.nets import get_device
from pgxlib.pipeline import run_policygradex
from pgxlib.store.cache import StageView
from pgxlib.tasks import MULTI_OBJECTIVE, protocol_of
from pgxlib.timing import StageClock

PARAMETERS: dict[str, Any] = {"ks": None, "proj_dims": [100, 200, 400, 800, 1000],
                              "projections": ["gaussian", "sketch"], "n_subsets": [10, 20, 40, 60, 100],
                              "subset_sizes": None, "depths": [2, 4, 8], "train_sweeps": True, "paired_seeds": None}
"""Lists, not tuples: papermill passes a tuple to the notebook as a string."""
KNOBS = ("k", "proj_dim", "projection", "n_subsets", "subset_size", "depth", "strategy")
STRATEGIES = ("sdp", "spectral", "gradient_similarity", "random")
EXPECTED_KEYS = ("metrics.reference", "metrics.protocol", "metrics.k.values", "metrics.k.scores", "metrics.k.by_value")
"""What every ablation result has; the meta-RL sweeps (control families) have `SWEEP_KEYS` too."""
SWEEP_KEYS = tuple(f"metrics.{knob}.{field}" for knob in KNOBS for field in ("values", "scores", "by_value")) + (
    "metrics.proj_dim.nmi", "metrics.n_subsets.nmi", "metrics.subset_size.nmi")
MT10_KS = [1, 2, 3, 4]
"""The paper's k ablation on Meta-World."""
PAIRED_KNOBS = ("k", "strategy")
"""The knobs that compare groupings or k, run on every paired seed."""
DEFAULT_PAIRED_SEEDS = [0, 1, 2]
"""``paired_seeds=None`` outside the smoke profile: the main results' default seeds (`main_results.PARAMETERS`)."""


def resolve_paired_seeds(profile: str, paired_seeds=None) -> list[int]:
    """The paired seed offsets: `DEFAULT_PAIRED_SEEDS` for None ([0] on smoke), else the given ones, which must
    include 0 (the seed every knob runs on)."""
    if paired_seeds is None:
        return [0] if profile == "smoke" else list(DEFAULT_PAIRED_SEEDS)
    offsets = check_int_list("paired_seeds", paired_seeds, 0)
    if 0 not in offsets:
        raise ConfigError(f"invalid paired_seeds={paired_seeds!r}: allowed a list of distinct seed offsets that "
                          "includes 0 (the seed every knob runs on)")
    return sorted(offsets)


def resolve_values(cfg, ks=None, proj_dims=(100, 200, 400, 800, 1000), projections=("gaussian", "sketch"),
                   n_subsets=(10, 20, 40, 60, 100), subset_sizes=None, depths=(2, 4, 8),
                   train_sweeps=True, paired_seeds=None) -> dict[str, list]:
    """The knob values of a run; None picks k in 1..min(5, n) and subset sizes 2..min(5, n − 1). `paired_seeds`
    (the seeds, not a knob) is resolved by `resolve_paired_seeds`."""
    n = cfg.n_tasks
    if protocol_of(cfg.family) == MULTI_OBJECTIVE and ks is None:
        ks = [k for k in MT10_KS if k <= n]
    if not isinstance(train_sweeps, bool):
        raise ConfigError(f"invalid train_sweeps={train_sweeps!r}: allowed True, False")
    ks = list(range(1, min(5, n) + 1)) if ks is None else check_int_list("ks", ks, 1, n)
    sizes = list(range(2, min(5, n - 1) + 1)) if subset_sizes is None else check_int_list("subset_sizes",
                                                                                          subset_sizes, 2, n - 1)
    allowed = f"a non-empty list of distinct values among {', '.join(PROJECTIONS)}"
    if not isinstance(projections, (list, tuple)) or not projections:
        raise ConfigError(f"invalid projections={projections!r}: allowed {allowed}")
    projections = [check_choice("projections", p, PROJECTIONS) for p in projections]
    if len(set(projections)) != len(projections):
        raise ConfigError(f"invalid projections={projections!r}: allowed {allowed}")
    return {"k": ks, "proj_dim": check_int_list("proj_dims", proj_dims, 1), "projection": projections,
            "n_subsets": check_int_list("n_subsets", n_subsets, 1), "subset_size": sizes,
            "depth": check_int_list("depths", depths, 1, 16), "strategy": list(STRATEGIES)}


def config(profile: str, family: str, seed: int):
    return pipeline_config(profile, family, seed=seed)


def check(profile: str, family: str, seed: int, **params) -> None:
    cfg = config(profile, family, seed)
    if cfg.cluster.k is None:
        raise ConfigError(f"invalid profile={profile!r} for ablations: its clustering has no fixed k")
    resolve_values(cfg, **params)
    resolve_paired_seeds(profile, params.get("paired_seeds"))


def variant_view(cache, cfg) -> StageView:
    """A view whose stage names carry what each stage depends on, so that variants share stages."""
    d, m, s, p = cfg.features.proj_dim, cfg.affinity.n_subsets, cfg.affinity.subset_size, cfg.features.projection
    tag = f"d{d}" if p == "gaussian" else f"{p}-d{d}"
    return StageView(cache, rename={"evaluate_meta": "evaluate_meta", "features": f"features-{tag}",
                                    "surrogate": f"surrogate-{tag}-m{m}-s{s}"})


def protocol_text(cfg) -> str:
    m, r = cfg.maml, cfg.meta_rl
    return (f"{cfg.family}, seed {cfg.seed}, meta-RL: per knob value, PolicyGradEx groups from the same θ* "
            f"({cfg.meta_ppo.steps_per_task:,} PPO steps/task; the depth knob trains its own θ*), one first-order "
            f"MAML meta-policy per group from θ* ({m.steps_per_task:,} steps/task), {r.n_targets} unseen target "
            f"tasks each adapted from its nearest source task's group ({m.adaptation_steps} environment steps, "
            f"{m.inner_updates} policy-gradient step(s)) and scored after adaptation ({r.episodes} episode(s)); "
            f"reference k={cfg.cluster.k}, d={cfg.features.proj_dim}, m={cfg.affinity.n_subsets}, subset size "
            f"{cfg.affinity.subset_size}, depth {cfg.net.depth}.")


def expected_keys(family: str) -> tuple[str, ...]:
    """`EXPECTED_KEYS`, and on the control families the meta-RL sweeps' `SWEEP_KEYS`."""
    return (*EXPECTED_KEYS, *(() if protocol_of(family) == MULTI_OBJECTIVE else SWEEP_KEYS))


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    if protocol_of(family) == MULTI_OBJECTIVE:
        return compute_k_multi_objective(profile, family, seed, cache, **params)
    return compute_sweeps(profile, family, seed, cache, **params)


def compute_k_multi_objective(profile: str, family: str, seed: int, cache, **params) -> dict:
    """The number-of-groups ablation on the multi-objective protocol (Meta-World): success per k."""
    cfg = config(profile, family, seed)
    ks = resolve_values(cfg, **params)["k"]
    progress = progress_default()
    device = get_device(cfg.device)
    clock = StageClock()
    ref = clock.run("reference", lambda: run_policygradex(cfg, cache=variant_view(cache, cfg), progress=progress,
                                                           train_groups_too=False))
    offsets = resolve_paired_seeds(profile, params.get("paired_seeds"))

    def k_row(k: int) -> dict:
        c = apply_overrides(cfg, {"k": k})
        r = run_policygradex(c, cache=variant_view(cache, c), progress=progress, train_groups_too=False)
        tr = trained_groups(ref.family, r.labels, GROUP_ARCH, cfg, device, progress)
        return {"groups": tr["groups"], "labels": [int(x) for x in r.labels], "nmi": nmi(r.labels, ref.labels),
                "score": finite_mean(tr["success"]), "success": finite_mean(tr["success"]),
                "return": finite_mean(tr["returns"]), "per_task_success": [float(x) for x in tr["success"]],
                "train_seconds": tr["train_seconds"]}

    def seed_scores(c) -> dict:
        seed_cache = StageView(cache, prefix=f"seed{c.seed}-")
        by_k = {}
        for k in ks:
            ck = apply_overrides(c, {"k": k})
            r = run_policygradex(ck, cache=variant_view(seed_cache, ck), progress=progress, train_groups_too=False)
            by_k[str(k)] = finite_mean(trained_groups(r.family, r.labels, GROUP_ARCH, c, device, progress)["success"])
        return {"k": by_k}

    rows = [clock.run(f"k{k}", lambda k=k: k_row(k)) for k in ks]
    paired = [{"k": {str(k): r["score"] for k, r in zip(ks, rows)}}]
    for s in offsets[1:]:
        c = config(profile, family, seed + s)
        paired.append(clock.run(f"seed{c.seed}", lambda c=c: seed_scores(c)))
    stage_times = clock.wall
    g, e = cfg.group_ppo, cfg.evaluation
    protocol = (f"{family}, seed {cfg.seed}, multi-objective: for each k, PolicyGradEx's groups from the same θ* "
                f"({cfg.meta_ppo.steps_per_task:,} PPO steps/task), one {GROUP_ARCH} policy per group trained from "
                f"scratch ({g.steps_per_task:,} PPO steps per task), every task evaluated with its group's policy "
                f"({e.episodes} episodes); score = success rate over the {cfg.n_tasks} tasks.")
    metrics = {"family": family, "seed": seed, "tasks": [t.name for t in ref.family.source], "protocol": protocol,
               "reference": {"k": cfg.cluster.k, "proj_dim": cfg.features.proj_dim,
                             "n_subsets": cfg.affinity.n_subsets, "subset_size": cfg.affinity.subset_size},
               "k": _knob(ks, rows, cfg.cluster.k), "paired_seeds": [seed + s for s in offsets]}
    with_paired_seeds(metrics, paired, ("k",))
    arrays = {"k_labels": np.asarray([r["labels"] for r in rows], dtype=np.int64),
              "k_success": np.asarray([r["per_task_success"] for r in rows], dtype=float),
              "affinity": ref.affinity.normalized}
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times, "config": cfg}


def compute_sweeps(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfg = config(profile, family, seed)
    values = resolve_values(cfg, **params)
    train_sweeps = params.get("train_sweeps", True)
    progress = progress_default()
    device = get_device(cfg.device)
    clock = StageClock()
    stage_times: dict[str, float] = {}  # the stored trainings' times, measured when they were computed

    ref_view = variant_view(cache, cfg)
    ref = clock.run("reference", lambda: run_policygradex(cfg, cache=ref_view, progress=progress,
                                                           train_groups_too=False))
    stage_times["meta_train"] = ref_view.times.get("meta_train", float("nan"))
    fam, policy, k = ref.family, ref.policy, cfg.cluster.k

    def train(labels, prefix: str = "", start=None, c=None) -> dict:
        out = cached_meta_rl(fam, start or policy, labels, c or cfg, device, progress)
        stage_times[f"{prefix}metarl-mlp-{labels_key(labels)}"] = out["seconds"]
        return out

    def grouping(overrides: dict) -> tuple[np.ndarray, int, float]:
        """Labels, subsets used and the affinity's correlation with the reference's, with one field changed."""
        c = apply_overrides(cfg, overrides)
        r = run_policygradex(c, cache=variant_view(cache, c), progress=progress, train_groups_too=False)
        return r.labels, len(r.members), offdiag_corr(r.affinity.normalized, ref.affinity.normalized)

    def entry(labels, trained: bool, prefix: str = "", start=None, c=None, **extra) -> dict:
        out = {"groups": [list(map(int, np.flatnonzero(labels == g))) for g in np.unique(labels)],
               "labels": [int(x) for x in labels], "nmi": nmi(labels, ref.labels), "score": None, "success": None,
               **extra}
        if trained:
            tr = train(labels, prefix, start, c)
            out["score"] = finite_mean(tr["after"])
            out["score_before"] = finite_mean(tr["before"])
            out["success"] = None if tr["success_after"] is None else finite_mean(tr["success_after"])
            out["returns"] = [float(x) for x in tr["after"]]
        return out

    reference = clock.run("reference_training", lambda: entry(ref.labels, True))
    metrics: dict[str, Any] = {"family": family, "seed": seed, "tasks": [t.name for t in fam.source],
                               "protocol": protocol_text(cfg), "train_sweeps": train_sweeps,
                               "reference": {"k": k, "proj_dim": cfg.features.proj_dim,
                                             "n_subsets": cfg.affinity.n_subsets,
                                             "subset_size": cfg.affinity.subset_size, **reference},
                               "theta_star": {"score": finite_mean(ref.meta_eval.mean_return),
                                              "success": None if ref.meta_eval.success is None
                                              else finite_mean(ref.meta_eval.success)}}
    knob_fields = {"k": "k", "proj_dim": "d", "projection": "projection", "n_subsets": "m",
                   "subset_size": "subset_size"}
    def sweep(knob: str, alias: str) -> list[dict]:
        rows = []
        for v in values[knob]:
            labels, m_used, corr = grouping({alias: v})
            rows.append(entry(labels, knob == "k" or train_sweeps, subsets_used=m_used,
                              affinity_corr=None if np.isnan(corr) else corr))
        return rows

    def depth_row(depth: int) -> dict:
        if depth == cfg.net.depth:
            return reference
        c = apply_overrides(cfg, {"depth": depth})
        r = run_policygradex(c, cache=StageView(cache, prefix=f"depth{depth}-"), progress=progress,
                             train_groups_too=False)
        return entry(r.labels, True, prefix=f"depth{depth}-", start=r.policy, c=c)

    def strategies() -> tuple[list[dict], np.ndarray]:
        strat_labels, similarity = strategy_labels(ref, cfg)
        return [entry(strat_labels[s], True) for s in STRATEGIES], similarity

    for knob, alias in knob_fields.items():
        metrics[knob] = _knob(values[knob], clock.run(knob, lambda: sweep(knob, alias)), _reference_value(cfg, knob))
    metrics["depth"] = _knob(values["depth"], clock.run("depth", lambda: [depth_row(d) for d in values["depth"]]),
                             cfg.net.depth)
    strategy_rows, gs_sim = clock.run("strategy", strategies)
    metrics["strategy"] = _knob(list(STRATEGIES), strategy_rows, "sdp")

    offsets = resolve_paired_seeds(profile, params.get("paired_seeds"))
    metrics["paired_seeds"] = [seed + s for s in offsets]
    paired = [{knob: dict(zip(map(str, metrics[knob]["values"]), metrics[knob]["scores"])) for knob in PAIRED_KNOBS}]
    for s in offsets[1:]:
        c = config(profile, family, seed + s)
        paired.append(clock.run(f"seed{c.seed}", lambda: paired_seed_scores(c, cache, values["k"], progress, device,
                                                                            stage_times)))
    with_paired_seeds(metrics, paired, PAIRED_KNOBS)
    pd_ = metrics["proj_dim"]
    above = [x for v, x in zip(pd_["values"], pd_["nmi"]) if v > cfg.features.proj_dim]
    pd_["min_nmi_above_reference"] = min(above) if above else None

    arrays = {"reference_labels": np.asarray(ref.labels, dtype=np.int64), "affinity": ref.affinity.normalized,
              "gradient_similarity": gs_sim}
    for knob in KNOBS:
        arrays[f"{knob}_labels"] = np.asarray([r["labels"] for r in metrics[knob]["rows"]], dtype=np.int64)
    return {"metrics": metrics, "arrays": arrays, "stage_times": {**stage_times, **clock.wall}, "config": cfg}


def strategy_labels(ref, cfg) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The partition [n] of each grouping strategy of `STRATEGIES` from one PolicyGradEx run `ref` (its affinity U
    and gradient features) at k = ``cfg.cluster.k``, and the gradient similarity [n, n] (the main results' random
    and gradient-similarity groupings on the same seed)."""
    feats, n, k = ref.features, ref.family.n_tasks, cfg.cluster.k
    grads = task_mean_gradients(feats.G, feats.y, feats.w, feats.task_id, ~feats.heldout, n).numpy()
    gs_labels, gs_sim = gradient_similarity_labels(grads, k)
    labels = {"sdp": ref.labels, "spectral": spectral_cluster(ref.affinity.normalized, k, cfg.seed),
              "gradient_similarity": gs_labels, "random": random_grouping(n, k, cfg.seed)}
    return labels, gs_sim


def paired_seed_scores(cfg, cache, ks: list[int], progress: bool, device, stage_times: dict) -> dict:
    """{knob of `PAIRED_KNOBS`: {value: target return after adaptation}} on the seed of `cfg`, from its own θ*
    (shared), with its stages in `cache` under ``seed<s>-`` and its meta-RL trainings in the shared store;
    adds the times of the seed's stored trainings to `stage_times`."""
    prefix = f"seed{cfg.seed}-"
    seed_cache = StageView(cache, prefix=prefix)
    view = variant_view(seed_cache, cfg)
    ref = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    stage_times[f"{prefix}meta_train"] = view.times.get("meta_train", float("nan"))

    def score(labels) -> float | None:
        out = cached_meta_rl(ref.family, ref.policy, labels, cfg, device, progress)
        stage_times[f"{prefix}metarl-mlp-{labels_key(labels)}"] = out["seconds"]
        return finite_mean(out["after"])

    by_k = {}
    for k in ks:
        c = apply_overrides(cfg, {"k": k})
        r = run_policygradex(c, cache=variant_view(seed_cache, c), progress=progress, train_groups_too=False)
        by_k[str(k)] = score(r.labels)
    labels, _ = strategy_labels(ref, cfg)
    return {"k": by_k, "strategy": {s: score(labels[s]) for s in STRATEGIES}}


def with_paired_seeds(metrics: dict, paired: list[dict], knobs) -> None:
    """Store each paired seed's score per value of `knobs` (``by_value.<v>.seeds``, in the order of `paired`, one
    {knob: {value: score}} per seed) and make ``score`` and ``scores`` their mean over the seeds with a score."""
    for knob in knobs:
        entry = metrics[knob]
        for v in map(str, entry["values"]):
            seeds = [p[knob].get(v) for p in paired]
            entry["by_value"][v]["seeds"] = seeds
            entry["by_value"][v]["score"] = finite_mean([np.nan if x is None else x for x in seeds])
        entry["scores"] = [entry["by_value"][str(v)]["score"] for v in entry["values"]]


def _reference_value(cfg, knob: str):
    return {"k": cfg.cluster.k, "proj_dim": cfg.features.proj_dim, "projection": cfg.features.projection,
            "n_subsets": cfg.affinity.n_subsets, "subset_size": cfg.affinity.subset_size}[knob]


def _knob(values: list, rows: list[dict], reference) -> dict:
    """{"values", "scores", "success", "nmi", "groups", "by_value", "rows", "reference"} of one knob."""
    return {"values": values, "scores": [r["score"] for r in rows], "success": [r["success"] for r in rows],
            "nmi": [r["nmi"] for r in rows], "groups": [r["groups"] for r in rows],
            "by_value": {str(v): {"score": r["score"], "success": r["success"], "nmi": r["nmi"]}
                         for v, r in zip(values, rows)},
            "rows": rows, "reference": reference}
