"""Surrogate accuracy and cost (PAPER.md, "Surrogate accuracy and cost"): estimated vs. measured affinity.

For every policy depth L (hidden layers of the MLP) the shared meta-policy θ*_L (`pipeline.shared_meta_policy`,
the profile's meta-training budget with ``net.depth = L``) is the common starting point of two ways of scoring
the same m random subsets S_l:

- ESTIMATED (PolicyGradEx): rollouts of θ* and their projected gradient features, the surrogate fits of all m
  subsets (θ̂_S = θ* + Δ_S), each θ̂_S scored on every task of S by each evaluator of `COMPARISONS`, then
  per evaluator the affinity and the SDP clustering;
- MEASURED ("full training"): for every subset, a copy of θ* fine-tuned with PPO on the subset's tasks
  (`finetune_steps` environment steps per task) into θ_S, scored on each of them by the same evaluators;
  then the same affinity and the same SDP clustering. Subsets run in parallel through `executor.map_jobs`
  (`n_jobs` joblib processes, or Ray tasks with ``PGX_ENGINE=ray``), one torch thread each, seeds fixed per
  subset, so the numbers depend neither on `n_jobs` nor on the engine.
  The measured side runs `repeats` times with independent fine-tuning and evaluation seeds
  (`REPEAT_SEED_STRIDE`; repeat 0 is the single run of earlier versions), each repeat its own resumable
  stage ``measured-d<L>-r<r>``.

One evaluator on both sides (PAPER.md, "How the authors measure": θ̂_S and θ_S are scored alike), from the
registry `pgx group` scores with (`pgxlib.estimate.scores.EVALUATORS`):

- ``"ppo"``: the held-out PPO objective (`estimate.scores.ppo_objective_scores`), a forward pass over the held-out
  transitions of θ*'s own rollout (the estimate's features stage), for Δ = θ̂_S − θ* and Δ = θ_S − θ*;
- ``"rollout"``: mean undiscounted return over `evaluation.episodes` episodes (`evaluate.evaluate_policy`,
  evaluation seed ``seed + 1 + l`` for subset l on both sides, shifted per repeat on the measured side);
- ``"success"``: the success rate of the same episodes, where the family reports success;
- ``"logistic"`` (estimate only): the surrogate's own held-out logistic loss, the score of earlier versions,
  compared with the rollout truth and labelled so (two evaluators: kept for comparison with old numbers).

Each repeat of the truth is clustered on its own. Its reproducibility is the NOISE CEILING: the mean NMI between
the clusterings of every pair of repeats (and the mean Pearson correlation of their normalised affinities off
the diagonal). The estimate's agreement is measured on the same footing (`FOOTING`, single repeats): its NMI
(affinity correlation) with each repeat, averaged. An estimate that agrees with the truth less than the truth
agrees with itself is within the truth's noise: its differences from the truth are not evidence. The mean over
repeats of f_i(S_l), clustered alike, is the truth of the figures and rank correlations; the estimate's NMI with
it is kept as ``nmi_vs_mean_of_repeats`` (a mean is steadier than one repeat, so it is not on the ceiling's footing).

Both sides are timed in the same run (wall and CPU seconds per stage). `speedup` = wall time of ONE repeat
of the measured side (fine-tuning on every subset, its evaluation, the clustering; the mean over repeats)
/ wall time of the estimated side (features, surrogate, scores and clustering of the same evaluator): the
extra repeats that measure the noise ceiling are a check of the truth, not part of "full training".
Meta-training θ* is shared by both and excluded from `speedup` (the scorecard's number);
`speedup_with_meta` adds it to both sides.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.speedup import (
    agreement_with_single_repeats,
    noise_ceiling,
    offdiag_corr,
    random_nmi_floor,
    rank_correlation,
    reaches_ceiling,
    speedup,
)
from pgxlib.config import (
    DEFAULT_SCORE,
    MAX_DEPTH,
    MAX_STEPS_PER_TASK,
    MAX_SUBSETS,
    PipelineConfig,
    PPOConfig,
    check_int,
    check_int_list,
    progress_default,
    to_dict,
)
from pgxlib.profiles import pipeline_config
from pgxlib.truth import COMPARISONS, ppo_truth_scores
from pgxlib.estimate.scores import EVALUATORS
from pgxlib.executor import warm_up
from pgxlib.finetunes import (  # noqa: F401  (finetune_and_evaluate, REPEAT_SEED_STRIDE, finetune_config re-exported)
    FINETUNE_BUDGET,
    REPEAT_SEED_STRIDE,
    finetune_and_evaluate,
    finetune_config,
    finetune_subsets,
    stored_finetunes,
)
from pgxlib.nets import actor_params, flat_params, get_device
from pgxlib.pipeline import (
    affinity_of,
    cluster,
    features_of,
    projector_of,
    rollout_of_theta,
    score_context,
    shared_meta_policy,
    subsets_of,
    surrogate_fits,
)
from pgxlib.tasks import TaskFamily, make_family
from pgxlib.timing import StageClock
from pgxlib.transitions import Rollout

PARAMETERS: dict[str, Any] = {"depths": (2, 4, 8), "n_subsets": None, "finetune_steps": None, "n_jobs": 2,
                              "repeats": 3}
EXPECTED_KEYS = ("metrics.nmi", "metrics.speedup", "metrics.rank_correlation", "metrics.rank_correlation_centred",
                 "metrics.random_nmi", "metrics.by_layers", "metrics.headline_depth", "metrics.budget",
                 "metrics.stage_times", "metrics.by_score", "metrics.noise_ceiling_nmi",
                 "metrics.noise_ceiling_affinity_corr", "arrays.members")

RANDOM_DRAWS = 100
THREADS = 1  # torch threads of the estimating process (each fine-tuning worker has one too)
MAX_JOBS = 64
MIN_REPEATS, MAX_REPEATS = 2, 10

# The evaluator of the headline numbers (`metrics.nmi`, `metrics.speedup`, ...) is `config.DEFAULT_SCORE`, that of
# `pgx group`, applied to θ̂_S and to θ_S alike; the others are in ``metrics.by_score``.

FOOTING = "single repeats"
"""The footing of the headline agreement and its noise ceiling (`analysis.speedup.agreement_with_single_repeats`):
the estimate against each single repeat of the truth, averaged, beside the repeats against each other."""

TRUTHS = ("ppo", "rollout", "success")
"""The scores of the measured side ("success" only where the family reports success)."""


ESTIMATED_TIMED = ("logistic", "ppo", "rollout")
"""The estimated side's evaluators, each timed as its own stage (``scores_<name>``); "success" reads the episodes
of "rollout"."""


def comparisons(has_success: bool) -> list[str]:
    """The comparisons (keys of `COMPARISONS`) of a family, the default first."""
    names = [DEFAULT_SCORE, *(k for k in COMPARISONS if k != DEFAULT_SCORE)]
    return [k for k in names if has_success or k != "success"]


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

def budget(profile: str, family: str, seed: int, n_subsets: int | None, finetune_steps: int | None) -> tuple[int, int]:
    """(m, fine-tuning steps per task): the given values, else this experiment's budget of the profile."""
    cfg = pipeline_config(profile, family, seed=seed)
    own = FINETUNE_BUDGET.get(profile, {})
    m = n_subsets if n_subsets is not None else own.get("n_subsets", cfg.affinity.n_subsets)
    steps = finetune_steps if finetune_steps is not None else own.get("finetune_steps", cfg.group_ppo.steps_per_task)
    return int(m), int(steps)


def config_for(profile: str, family: str, seed: int, depth: int, n_subsets: int) -> PipelineConfig:
    """The pipeline configuration of one depth: the profile's, with ``net.depth = depth`` and m subsets."""
    return pipeline_config(profile, family, seed=seed, depth=depth, n_subsets=n_subsets)


def headline_depth(profile: str, family: str, depths) -> int:
    """The depth whose numbers are the result's headline: the profile's own depth if measured, else the first."""
    own = pipeline_config(profile, family).net.depth
    return own if own in depths else int(depths[0])


def check(profile: str, family: str, seed: int, depths=(2, 4, 8), n_subsets=None, finetune_steps=None,
          n_jobs=2, repeats=3) -> None:
    cfg = pipeline_config(profile, family, seed=seed)
    check_int_list("depths", depths, 1, MAX_DEPTH)
    if n_subsets is not None:
        check_int("n_subsets", n_subsets, 1, MAX_SUBSETS)
    check_int("n_jobs", n_jobs, 1, MAX_JOBS)
    check_int("repeats", repeats, MIN_REPEATS, MAX_REPEATS)
    if finetune_steps is not None:
        check_int("finetune_steps", finetune_steps,
                  cfg.group_ppo.steps_per_iteration, MAX_STEPS_PER_TASK)
    m, _ = budget(profile, family, seed, n_subsets, finetune_steps)
    config_for(profile, family, seed, int(depths[0]), m)


def _finite(x) -> float | None:
    """A float, or None for NaN/inf (the result store refuses those)."""
    return float(x) if x is not None and np.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# The evaluators
# ---------------------------------------------------------------------------------------------

def _cluster_scores(members: np.ndarray, scores: np.ndarray, cfg: PipelineConfig):
    aff = affinity_of(members, scores, cfg)
    return aff.normalized, cluster(aff, cfg)[0]


# ---------------------------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------------------------

def estimated_side(policy, fam, cfg: PipelineConfig, members: np.ndarray, device, progress: bool) -> dict:
    """PolicyGradEx's scores, affinity and clustering of `members` from θ* = `policy`, by every estimated score
    ("logistic", "ppo", "rollout" and "success" where reported), each stage timed. Also returns θ*'s held-out
    transitions (the "ppo" evaluator of the measured side scores the fine-tuned policies on them)."""
    clock = StageClock()
    projector = projector_of(policy, cfg)

    def _features():
        rollout = rollout_of_theta(policy, fam, cfg, device)
        return rollout, features_of(policy, rollout, projector, cfg, progress)
    rollout, features = clock.run("features", _features)
    fit = clock.run("surrogate", lambda: surrogate_fits(policy, features, members, projector, cfg))
    ctx = score_context(policy, fam, rollout, features, members, fit, projector, cfg, device)
    scores = {name: clock.run(f"scores_{name}", lambda: EVALUATORS[name](ctx)) for name in ESTIMATED_TIMED}
    if fam.has_success:  # the episodes of "rollout" again: no new cost
        scores["success"] = EVALUATORS["success"](ctx)
    affinity, labels = {}, {}
    for name, s in scores.items():
        affinity[name], labels[name] = clock.run(f"cluster_{name}", lambda: _cluster_scores(members, s, cfg))
    heldout = rollout.select(features.heldout)
    return {"scores": {k: torch.as_tensor(v) for k, v in scores.items()},
            "affinity": {k: torch.as_tensor(v) for k, v in affinity.items()},
            "labels": {k: torch.as_tensor(v) for k, v in labels.items()}, "wall": clock.wall, "cpu": clock.cpu,
            "rel_dist": torch.as_tensor(fit.rel_dist.cpu().numpy()),
            "heldout": {f: getattr(heldout, f).cpu() for f in Rollout.__dataclass_fields__}}


def measured_scores(family: TaskFamily, cfg: PipelineConfig, state_dict: dict, members: np.ndarray, ppo: PPOConfig,
                    n_jobs: int, progress: bool = False, repeat: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f_i(S_l) = mean return for every subset by fine-tuning and evaluation, [m, n] (NaN off the subsets);
    `repeat` selects independent fine-tuning and evaluation seeds (`REPEAT_SEED_STRIDE`).

    Also returns the per-subset wall and CPU seconds [m] of the workers (`finetune_subsets` has the rest).
    """
    out = finetune_subsets(family, cfg, state_dict, members, ppo, n_jobs, progress, repeat)
    return out["returns"], out["wall"], out["cpu"]


def measured_side(policy, family: TaskFamily, cfg: PipelineConfig, members: np.ndarray, ppo: PPOConfig, n_jobs: int,
                  progress: bool, repeat: int = 0, heldout: Rollout | None = None) -> dict:
    """One repeat of the truth: scores, affinity and clustering of `members` by really fine-tuning θ* on each
    subset of `family` (`finetunes.stored_finetunes`, shared with the structure chapter; its time is the one
    measured when it was computed), by every truth score ("rollout", "success" where reported, and "ppo" on
    θ*'s held-out transitions `heldout`, skipped when None), each stage timed; `repeat` selects independent
    seeds. Also the relative distance ‖θ_S − θ*‖/‖θ*‖ of every fine-tuned actor (`rel_dist` [m]; the estimate's is capped at
    `surrogate.max_rel_dist`)."""
    clock = StageClock()
    state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    out = stored_finetunes(family, cfg, state, members, ppo, n_jobs, progress, repeat)
    clock.wall["finetune_eval"], clock.cpu["finetune_eval"] = out["seconds"], out["process_cpu"]
    scores = {"rollout": out["returns"]}
    if out["success"] is not None:
        scores["success"] = out["success"]
    if heldout is not None:
        scores["ppo"] = clock.run("ppo_score", lambda: ppo_truth_scores(policy, heldout, out["actors"], members))
    affinity, labels = {}, {}
    for name, s in scores.items():
        affinity[name], labels[name] = clock.run(f"cluster_{name}", lambda: _cluster_scores(members, s, cfg))
    cpu = dict(clock.cpu)
    if n_jobs > 1:  # the workers' CPU seconds, beside this process's own (dispatch, pickling)
        cpu["finetune_eval"] += float(out["cpu"].sum())
    theta = flat_params(actor_params(policy.actor)).detach().cpu()
    rel_dist = (out["actors"].to(theta.dtype) - theta).norm(dim=1) / theta.norm()
    return {"scores": {k: torch.as_tensor(v) for k, v in scores.items()}, "rel_dist": rel_dist,
            "affinity": {k: torch.as_tensor(v) for k, v in affinity.items()},
            "labels": {k: torch.as_tensor(v) for k, v in labels.items()}, "wall": clock.wall, "cpu": cpu,
            "subset_wall": torch.as_tensor(out["wall"]), "subset_cpu": torch.as_tensor(out["cpu"]),
            "subset_finetune_wall": torch.as_tensor(out["finetune_wall"]),
            "subset_eval_wall": torch.as_tensor(out["eval_wall"])}


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------

def _cost_key(score: str) -> str:
    return "rollout" if score == "success" else score  # success comes with the same episodes as the return


def _estimated_seconds(est: dict, score: str, clock: str = "wall") -> float:
    """The estimate's cost with one score: features, surrogate fits, that score, that clustering."""
    d = est[clock]
    return d["features"] + d["surrogate"] + d[f"scores_{_cost_key(score)}"] + d[f"cluster_{score}"]


def _repeat_seconds(rep: dict, truth: str, clock: str = "wall") -> float:
    """One repeat's cost with one truth score: fine-tuning and rollout evaluation of every subset (the
    workers, in parallel), the PPO forward pass for "ppo", that clustering."""
    d = rep[clock]
    return d["finetune_eval"] + (d["ppo_score"] if truth == "ppo" else 0.0) + d[f"cluster_{truth}"]


def mean_truth(members: np.ndarray, reps: list[dict], truth: str, cfg: PipelineConfig) -> dict:
    """The headline truth of one score: the mean over repeats of f_i(S_l), its normalised affinity and
    clustering, and the noise ceiling of the single repeats."""
    scores = np.mean([r["scores"][truth].numpy() for r in reps], axis=0)
    affinity, labels = _cluster_scores(members, scores, cfg)
    ceiling = noise_ceiling([r["labels"][truth].numpy() for r in reps], [r["affinity"][truth].numpy() for r in reps])
    return {"scores": scores, "affinity": affinity, "labels": labels, **ceiling}


def _comparison(name: str, est: dict, reps: list[dict], truth: dict, members: np.ndarray, k: int,
                meta_seconds: float, seed: int) -> dict:
    """One evaluator at one depth. The headline agreement is on the footing of the noise ceiling (`FOOTING`):
    the estimate against each single repeat, averaged (`nmi`, `affinity_corr`), beside the ceiling between
    single repeats; the agreement with the mean of the repeats is kept as `nmi_vs_mean_of_repeats` and
    `affinity_corr_vs_mean_of_repeats` (steadier than one repeat, so not comparable with the ceiling)."""
    est_score, truth_score, label = COMPARISONS[name]
    s_est, labels_est = est["scores"][est_score].numpy(), est["labels"][est_score].numpy()
    aff_est = est["affinity"][est_score].numpy()
    single = agreement_with_single_repeats(labels_est, [r["labels"][truth_score].numpy() for r in reps], aff_est,
                                           [r["affinity"][truth_score].numpy() for r in reps])
    floor, floor_std = random_nmi_floor(truth["labels"], k, RANDOM_DRAWS, seed)
    est_wall, est_cpu = _estimated_seconds(est, est_score), _estimated_seconds(est, est_score, "cpu")
    true_wall = float(np.mean([_repeat_seconds(r, truth_score) for r in reps]))
    true_cpu = float(np.mean([_repeat_seconds(r, truth_score, "cpu") for r in reps]))
    return {
        "estimate": est_score, "truth": truth_score, "label": label,
        "footing": FOOTING,
        "nmi": single["nmi"],
        "nmi_per_repeat": single["nmi_per_repeat"],
        "nmi_vs_mean_of_repeats": nmi(labels_est, truth["labels"]),
        "rank_correlation": _finite(rank_correlation(members, s_est, truth["scores"])),
        "rank_correlation_centred": _finite(rank_correlation(members, s_est, truth["scores"], centred=True)),
        "affinity_corr": _finite(single["affinity_corr"]),
        "affinity_corr_vs_mean_of_repeats": _finite(offdiag_corr(aff_est, truth["affinity"])),
        "noise_ceiling_nmi": truth["noise_ceiling_nmi"],
        "noise_ceiling_affinity_corr": _finite(truth["noise_ceiling_affinity_corr"]),
        "noise_ceiling_pairs_nmi": truth["pairs_nmi"],
        "above_ceiling": reaches_ceiling(single["nmi"], truth["noise_ceiling_nmi"]),
        "random_nmi": floor,
        "random_nmi_std": floor_std,
        "speedup": speedup(true_wall, est_wall),
        "speedup_cpu": speedup(true_cpu, est_cpu),
        "speedup_with_meta": speedup(true_wall + meta_seconds, est_wall + meta_seconds),
        "seconds": {"estimated": est_wall, "measured": true_wall, "estimated_cpu": est_cpu, "measured_cpu": true_cpu},
        "labels_estimated": labels_est.tolist(),
        "labels_measured": truth["labels"].tolist(),
    }


def _depth_metrics(est: dict, reps: list[dict], members: np.ndarray, cfg: PipelineConfig, meta_seconds: float,
                   seed: int, names: list[str]) -> tuple[dict, dict]:
    """(the depth's metrics, the mean truth of each truth score)."""
    truth = {t: mean_truth(members, reps, t, cfg) for t in dict.fromkeys(COMPARISONS[c][1] for c in names)}
    by_score = {c: _comparison(c, est, reps, truth[COMPARISONS[c][1]], members, cfg.cluster.k, meta_seconds, seed)
                for c in names}
    top = by_score[DEFAULT_SCORE]
    est_score, truth_score, _ = COMPARISONS[DEFAULT_SCORE]
    mean_stage = {stage: float(np.mean([r["wall"][stage] for r in reps])) for stage in reps[0]["wall"]}
    mean_stage_cpu = {stage: float(np.mean([r["cpu"][stage] for r in reps])) for stage in reps[0]["cpu"]}
    sub_wall = np.concatenate([r["subset_wall"].numpy() for r in reps])
    sub_eval = np.concatenate([r["subset_eval_wall"].numpy() for r in reps])
    row = {
        **{key: top[key] for key in ("nmi", "rank_correlation", "rank_correlation_centred", "speedup", "speedup_cpu",
                                     "speedup_with_meta", "random_nmi", "random_nmi_std", "labels_estimated",
                                     "labels_measured", "nmi_per_repeat", "noise_ceiling_nmi",
                                     "noise_ceiling_affinity_corr", "above_ceiling", "affinity_corr", "footing",
                                     "nmi_vs_mean_of_repeats", "affinity_corr_vs_mean_of_repeats")},
        "score": DEFAULT_SCORE,
        "repeats": len(reps),
        "by_score": by_score,
        "seconds": {**top["seconds"], "meta_train": meta_seconds,
                    "measured_all_repeats": float(sum(sum(r["wall"].values()) for r in reps)),
                    "measured_eval_share": float(sub_eval.sum() / sub_wall.sum()) if sub_wall.sum() > 0 else 0.0},
        "stages": {"estimated": {s: est["wall"][key] for s, key in (
                       ("features", "features"), ("surrogate", "surrogate"),
                       ("scores", f"scores_{_cost_key(est_score)}"), ("cluster", f"cluster_{est_score}"))},
                   "measured": {"finetune_eval": mean_stage["finetune_eval"],
                                "cluster": mean_stage[f"cluster_{truth_score}"]}},
        "stages_cpu": {"estimated": {s: est["cpu"][key] for s, key in (
                           ("features", "features"), ("surrogate", "surrogate"),
                           ("scores", f"scores_{_cost_key(est_score)}"), ("cluster", f"cluster_{est_score}"))},
                       "measured": {"finetune_eval": mean_stage_cpu["finetune_eval"],
                                    "cluster": mean_stage_cpu[f"cluster_{truth_score}"]}},
        "rel_dist_mean": float(est["rel_dist"].mean()),
        "finetuned_rel_dist_mean": float(np.mean([r["rel_dist"].mean().item() for r in reps])),
    }
    return row, truth


def compute(profile: str, family: str, seed: int, cache, depths=(2, 4, 8), n_subsets=None, finetune_steps=None,
            n_jobs=2, repeats=3) -> dict:
    """Both sides for every depth, in this process on one torch thread (as each fine-tuning worker).

    One thread: on a small shared machine several torch threads per process oversubscribe the cores
    and slow small-network PPO down many times over; it also makes the CPU-time ratio a like-for-like one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _compute(profile, family, seed, cache, [int(d) for d in depths], n_subsets, finetune_steps, n_jobs,
                        int(repeats))
    finally:
        torch.set_num_threads(threads)


def _compute(profile: str, family: str, seed: int, cache, depths: list[int], n_subsets, finetune_steps,
             n_jobs: int, repeats: int) -> dict:
    import cvxpy  # noqa: F401  (imported before the clocks start, so neither side pays for it)

    progress = progress_default()
    m, steps = budget(profile, family, seed, n_subsets, finetune_steps)
    head = headline_depth(profile, family, depths)
    warm_up(n_jobs)
    by_layers: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    stage_times: dict[str, float] = {}
    members = None
    names: list[str] = []
    for depth in depths:
        cfg = config_for(profile, family, seed, depth, m)
        device = get_device(cfg.device)
        fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
        names = comparisons(fam.has_success)
        policy, _, meta_seconds = shared_meta_policy(fam, cfg, device, progress)
        members = subsets_of(fam.n_tasks, cfg)
        ppo = finetune_config(cfg, steps)
        est = cache.get_or_compute(f"estimated-d{depth}", lambda: estimated_side(policy, fam, cfg, members, device,
                                                                                  progress))
        heldout = Rollout(**est["heldout"]).to(device)
        reps = [cache.get_or_compute(f"measured-d{depth}-r{r}",
                                     lambda r=r: measured_side(policy, fam, cfg, members, ppo, n_jobs, progress, r,
                                                               heldout))
                for r in range(repeats)]
        row, truth = _depth_metrics(est, reps, members, cfg, meta_seconds, seed, names)
        row["actor_params"] = int(flat_params(actor_params(policy.actor)).numel())
        by_layers[str(depth)] = row
        stage_times[f"d{depth}_meta_train (shared, excluded)"] = meta_seconds
        for stage, sec in est["wall"].items():
            stage_times[f"d{depth}_estimated_{stage}"] = sec
        for r, rep in enumerate(reps):
            for stage, sec in rep["wall"].items():
                stage_times[f"d{depth}_measured_r{r}_{stage}"] = sec
        est_score, truth_score, _ = COMPARISONS[DEFAULT_SCORE]
        arrays[f"affinity_estimated_d{depth}"] = est["affinity"][est_score].numpy()
        arrays[f"affinity_measured_d{depth}"] = truth[truth_score]["affinity"]
        arrays[f"labels_estimated_d{depth}"] = est["labels"][est_score].numpy()
        arrays[f"labels_measured_d{depth}"] = truth[truth_score]["labels"]
        arrays[f"scores_estimated_d{depth}"] = np.ma.masked_invalid(est["scores"][est_score].numpy())
        arrays[f"scores_measured_d{depth}"] = np.ma.masked_invalid(truth[truth_score]["scores"])
        for score in est["scores"]:
            arrays[f"scores_estimated_{score}_d{depth}"] = np.ma.masked_invalid(est["scores"][score].numpy())
            arrays[f"affinity_estimated_{score}_d{depth}"] = est["affinity"][score].numpy()
        for t, tr in truth.items():
            arrays[f"scores_measured_{t}_d{depth}"] = np.ma.masked_invalid(tr["scores"])
            arrays[f"affinity_measured_{t}_d{depth}"] = tr["affinity"]
            arrays[f"labels_measured_{t}_d{depth}"] = tr["labels"]
            for r, rep in enumerate(reps):
                arrays[f"scores_measured_{t}_d{depth}_r{r}"] = np.ma.masked_invalid(rep["scores"][t].numpy())
                arrays[f"labels_measured_{t}_d{depth}_r{r}"] = rep["labels"][t].numpy()
        arrays[f"subset_seconds_d{depth}"] = reps[0]["subset_wall"].numpy()
    cfg = config_for(profile, family, seed, head, m)
    top = by_layers[str(head)]
    arrays["members"] = members.astype(np.int8)
    metrics = {
        "family": family,
        "headline_depth": head,
        "depths": depths,
        "default_score": DEFAULT_SCORE,
        "repeats": repeats,
        **{key: top[key] for key in ("nmi", "speedup", "speedup_cpu", "speedup_with_meta", "rank_correlation",
                                     "rank_correlation_centred", "random_nmi", "random_nmi_std", "noise_ceiling_nmi",
                                     "noise_ceiling_affinity_corr", "above_ceiling", "by_score", "footing",
                                     "nmi_vs_mean_of_repeats")},
        "by_layers": by_layers,
        "budget": {"n_subsets": int(len(members)), "n_subsets_requested": m, "subset_size": cfg.affinity.subset_size,
                   "finetune_steps_per_task": steps, "finetune_iterations": finetune_config(cfg, steps).iterations,
                   "group_ppo_steps_per_task": cfg.group_ppo.steps_per_task, "n_jobs": n_jobs,
                   "eval_episodes": cfg.evaluation.episodes, "score": DEFAULT_SCORE, "scores": names,
                   "repeats": repeats, "k": cfg.cluster.k, "n_tasks": cfg.n_tasks,
                   "torch_threads_estimated": torch.get_num_threads(), "random_draws": RANDOM_DRAWS},
        "stage_times": stage_times,
    }
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times,
            "config": {**to_dict(cfg), "experiment": {"depths": depths, "n_subsets": m, "finetune_steps": steps,
                                                      "n_jobs": n_jobs, "repeats": repeats}}}
