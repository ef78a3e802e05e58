"""PolicyGradEx end to end: from a task family to k groups, each with its own trained policy.

    tasks ─► meta-train ─► collect ─► features ─► surrogate ─► scores ─► affinity ─► cluster ─► group-train

`run_policygradex(cfg)` runs every stage in order. Each expensive stage goes through a stage cache
(`StageCache.get_or_compute`), so an interrupted run resumes from the last finished stage.

The stages are also functions of their own, each holding its seed (`rollout_of_theta`, `projector_of`,
`features_of`, `subsets_of`, `surrogate_fits`, `score_context` and `estimate_scores`, `affinity_of`, `cluster`):
every chapter that measures a stage calls them, so it measures the estimate `pgx group` makes. The names of the
stage cache's stages are this module's alone (`features_stage`).
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.cluster import groups_from_labels, random_grouping, sdp_partition, sdp_solve, spectral_cluster
from pgxlib.config import ConfigError, PipelineConfig, progress_default, to_dict
from pgxlib.profiles import apply_overrides
from pgxlib.estimate.affinity import Affinity, compute_affinity, sample_subsets
from pgxlib.estimate.features import GradFeatures, compute_features, make_projector
from pgxlib.estimate.projector import Projector, SketchProjector
from pgxlib.estimate.scores import EVALUATORS, ScoreContext
from pgxlib.estimate.surrogate import SurrogateFit, surrogate_fit
from pgxlib.evaluate import Evaluation, evaluate_policy, with_actor_delta
from pgxlib.nets import ActorCritic, actor_params, flat_params, get_device, new_policy
from pgxlib.rl.ppo import TrainResult, train_ppo
from pgxlib.rollout import collect_rollout
from pgxlib.store.cache import MemoryCache
from pgxlib.tasks import TaskFamily, make_family
from pgxlib.transitions import Rollout

STAGES_BEFORE_SURROGATE = ("evaluate_meta", "features")
"""The cached stages of a run that depend on θ* and the features settings alone: runs that differ from the
surrogate on (its λ, say) can share them."""


@dataclass
class GroupOutcome:
    """One group: its source-task indices, its PPO fine-tuning curve and its per-task evaluation."""

    tasks: list[int]
    train: TrainResult
    evaluation: Evaluation


@dataclass
class PipelineResult:
    """Everything a PolicyGradEx run produced. n source tasks, m subsets, k groups.

    members [m, n] sampled subsets; scores [m, n] f̂_i(S_l) (NaN off the subset); rel_dist [m] the
    relative parameter distance of each θ̂_l; sdp_X [n, n] the SDP solution; labels [n] group ids; rollout,
    features, fit and projector: what the stages made (θ*'s transitions, G̃ [N, d], the m surrogate fits, P).
    """

    config: PipelineConfig
    family: TaskFamily
    policy: ActorCritic
    meta_train: TrainResult
    meta_eval: Evaluation
    random_eval: Evaluation
    members: np.ndarray
    scores: np.ndarray
    rel_dist_raw: np.ndarray
    rel_dist: np.ndarray
    affinity: Affinity
    sdp_X: np.ndarray | None
    labels: np.ndarray
    groups: list[GroupOutcome]
    rollout: Rollout
    features: GradFeatures
    fit: SurrogateFit
    projector: Projector | SketchProjector
    stage_times: dict[str, float] = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.family.source]

    def grouped_returns(self) -> np.ndarray:
        """Per source task, the mean return of its own group's policy, shape [n]."""
        out = np.full(len(self.labels), np.nan)
        for g in self.groups:
            out[g.tasks] = g.evaluation.mean_return
        return out

    def grouped_success(self) -> np.ndarray | None:
        if not self.family.has_success:
            return None
        out = np.full(len(self.labels), np.nan)
        for g in self.groups:
            out[g.tasks] = g.evaluation.success
        return out


def meta_train(family: TaskFamily, cfg: PipelineConfig, device: torch.device, progress: bool,
               checkpoint=None) -> tuple[ActorCritic, TrainResult]:
    """Stage 1: one multitask policy θ* on all source tasks (resumable with a `checkpoint`, see `train_ppo`)."""
    policy = new_policy(family, cfg, cfg.seed, device)
    result = train_ppo(policy, family, list(range(family.n_tasks)), cfg.meta_ppo, cfg.seed, device, progress,
                       desc=f"meta-train {family.name}", checkpoint=checkpoint)
    return policy, result


def meta_key(cfg: PipelineConfig, family: TaskFamily | None = None) -> str:
    """Identifies a meta-policy: family and its tasks, seed, network and PPO budget (not the later stages)."""
    d = {"family": cfg.family, "n_tasks": cfg.n_tasks, "seed": cfg.seed, "net": to_dict(cfg.net),
         "meta_ppo": to_dict(cfg.meta_ppo)}
    if family is not None and family.name != cfg.family:  # a user's own family: its tasks identify it
        d["tasks"] = [t.name for t in family.source]
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def shared_meta_policy(family: TaskFamily, cfg: PipelineConfig, device: torch.device,
                       progress: bool) -> tuple[ActorCritic, TrainResult, float]:
    """θ* for `cfg`, trained once and shared by every experiment that asks for the same one.

    Stored under ``runs/meta_policies/<family>/<family>-<meta_key>.pt``; that family's store is cleared
    when the code of the training stage (PPO, networks, rollouts, this task family) changes, so a reused θ* is
    always what the current code would train (training is deterministic given the seed).
    Returns (policy, learning curve, training seconds).
    """
    from pgxlib.store.cache import StageCache
    from pgxlib.store.fingerprint import code_fingerprint
    from pgxlib.store.results import runs_root

    store = StageCache(runs_root() / "meta_policies" / family.name,
                       fingerprint=code_fingerprint("pgxlib.rl.ppo", family=family.name)["sha256"])

    stage = f"{family.name}-{meta_key(cfg, family)}"

    def _train():
        pol, res = meta_train(family, cfg, device, progress, store.checkpoint(stage, "ppo"))
        return {"state_dict": {k: v.cpu() for k, v in pol.state_dict().items()}, "train": res.to_stage()}
    stored = store.get_or_compute(stage, _train)
    policy = new_policy(family, cfg, cfg.seed, device)
    policy.load_state_dict(stored["state_dict"])
    return policy, TrainResult.from_stage(stored["train"]), store.times[stage]


def rollout_of_theta(policy: ActorCritic, family: TaskFamily, cfg: PipelineConfig, device: torch.device) -> Rollout:
    """θ*'s transitions for the gradient features: `features.steps_per_task` per source task, seed ``seed + 17``."""
    return collect_rollout(policy, family, list(range(family.n_tasks)), cfg.features.steps_per_task,
                           cfg.meta_ppo.num_envs, cfg.meta_ppo.gamma, cfg.meta_ppo.gae_lambda, cfg.seed + 17, device)


def features_seed(cfg: PipelineConfig) -> int:
    """The seed of the projection and of the held-out split: ``features.seed + seed``."""
    return cfg.features.seed + cfg.seed


def projector_of(policy: ActorCritic, cfg: PipelineConfig) -> Projector | SketchProjector:
    """The projection P [p, d] of θ*'s actor gradients (`features.projection`, `features.proj_dim`)."""
    return make_projector(policy.actor, cfg.features.proj_dim, features_seed(cfg), cfg.features.projection)


def features_of(policy: ActorCritic, rollout: Rollout, projector: Projector | SketchProjector, cfg: PipelineConfig,
                progress: bool = False) -> GradFeatures:
    """Projected per-sample gradient features G̃ [N, d] of θ*'s actor on `rollout`, with the held-out split."""
    return compute_features(policy.actor, rollout, projector, cfg.features.chunk_size, cfg.features.heldout_frac,
                            features_seed(cfg), progress)


def features_stage(cache, policy: ActorCritic, family: TaskFamily, projector: Projector | SketchProjector,
                   cfg: PipelineConfig, device: torch.device, progress: bool = False) -> tuple[Rollout, GradFeatures]:
    """θ*'s rollout and its gradient features through `cache` (stage "features": computed once, then loaded)."""
    def _features():
        rollout = rollout_of_theta(policy, family, cfg, device)
        feats = features_of(policy, rollout, projector, cfg, progress)
        return {"rollout": dict(vars(rollout)), "features": dict(vars(feats))}
    stored = cache.get_or_compute("features", _features)
    return Rollout(**stored["rollout"]), GradFeatures(**stored["features"])


def subsets_of(n: int, cfg: PipelineConfig, n_subsets: int | None = None) -> np.ndarray:
    """The random task subsets, members [m, n] bool: `affinity.n_subsets` (or `n_subsets`) of `subset_size` tasks,
    completed to cover every pair, seed ``affinity.seed + seed``."""
    m = cfg.affinity.n_subsets if n_subsets is None else n_subsets
    return sample_subsets(n, m, cfg.affinity.subset_size, cfg.affinity.seed + cfg.seed)


def surrogate_fits(policy: ActorCritic, features: GradFeatures, members: np.ndarray,
                   projector: Projector | SketchProjector, cfg: PipelineConfig) -> SurrogateFit:
    """The surrogate fit of every subset (θ̂_l = θ* + `fit.delta(l, projector)`)."""
    theta = flat_params(actor_params(policy.actor))
    return surrogate_fit(features, members, projector, float(theta.norm()), cfg.surrogate)


def score_context(policy: ActorCritic, family: TaskFamily, rollout: Rollout, features: GradFeatures,
                  members: np.ndarray, fit: SurrogateFit, projector: Projector | SketchProjector, cfg: PipelineConfig,
                  device: torch.device) -> ScoreContext:
    """What every evaluator of `pgxlib.estimate.scores` needs to score θ̂_l = θ* + Δ_l; episodes of a candidate
    run `evaluation.episodes` per task, seed ``seed + 1 + l`` for subset l."""
    def evaluate(delta: torch.Tensor, tasks: list[int], seed: int) -> Evaluation:
        return evaluate_policy(with_actor_delta(policy, delta), family, [family.source[i] for i in tasks], tasks,
                               cfg.evaluation.episodes, seed, cfg.evaluation.deterministic, device)
    return ScoreContext(members=members, delta_of=lambda l: fit.delta(l, projector), policy=policy, rollout=rollout,
                        heldout=features.heldout, features=features, fit=fit, evaluate=evaluate, seed=cfg.seed)


def estimate_scores(policy: ActorCritic, family: TaskFamily, rollout: Rollout, features: GradFeatures,
                    members: np.ndarray, fit: SurrogateFit, projector: Projector | SketchProjector,
                    cfg: PipelineConfig, device: torch.device) -> np.ndarray:
    """f̂_i(S_l) for every subset l and task i ∈ S_l, shape [m, n], by the evaluator `cfg.affinity.score`."""
    ctx = score_context(policy, family, rollout, features, members, fit, projector, cfg, device)
    return EVALUATORS[cfg.affinity.score](ctx)


def affinity_of(members: np.ndarray, scores: np.ndarray, cfg: PipelineConfig) -> Affinity:
    """The task affinity U [n, n] of the scores, normalised by `affinity.normalization`."""
    return compute_affinity(members, scores, cfg.affinity.normalization)


def cluster(affinity: Affinity, cfg: PipelineConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels [n] (and the SDP solution X for the SDP method) from the normalised affinity."""
    U, c = affinity.normalized, cfg.cluster
    if c.method == "sdp":
        X = sdp_solve(U, k=c.k, lam=None if c.k is not None else c.lam)
        return sdp_partition(U, X, k=c.k), X
    if c.method == "spectral":
        return spectral_cluster(U, c.k, c.seed), None
    return random_grouping(len(U), c.k, c.seed), None


def train_groups(family: TaskFamily, policy: ActorCritic, labels: np.ndarray, cfg: PipelineConfig,
                 device: torch.device, progress: bool, checkpoint_of=None) -> list[GroupOutcome]:
    """One policy per group (from θ* or from scratch), each evaluated on its own tasks; `checkpoint_of(g)`
    gives group g's checkpoint (resumable runs, see `train_ppo`) or None."""
    outcomes = []
    for g, tasks in enumerate(groups_from_labels(labels)):
        start = policy if cfg.group_init == "meta" else new_policy(family, cfg, cfg.seed + 100 + g, device)
        group_policy = copy.deepcopy(start)
        train = train_ppo(group_policy, family, tasks, cfg.group_ppo, cfg.seed + 1000 + g, device, progress,
                          desc=f"group {g} {tasks}", checkpoint=None if checkpoint_of is None else checkpoint_of(g))
        ev = evaluate_policy(group_policy, family, [family.source[i] for i in tasks], tasks,
                             cfg.evaluation.episodes, cfg.seed, cfg.evaluation.deterministic, device,
                             cfg.evaluation.envs_per_task)
        outcomes.append(GroupOutcome(tasks, train, ev))
    return outcomes


def run_policygradex(cfg: PipelineConfig, cache=None, progress: bool | None = None,
                     train_groups_too: bool = True, family: TaskFamily | None = None) -> PipelineResult:
    """Run every stage of PolicyGradEx for `cfg`; stages already in `cache` are loaded, not recomputed.

    `family` groups a task family of your own (a `TaskFamily`); `cfg` then supplies the budgets
    (e.g. ``pipeline_config("default", "cartpole", k=3)``) and its `n_tasks` is taken from the family.
    """
    progress = progress_default() if progress is None else progress
    if cfg.affinity.score not in EVALUATORS:
        raise ConfigError(f"invalid affinity.score={cfg.affinity.score!r}: no evaluator of that name in "
                          f"pgxlib.estimate.scores.EVALUATORS ({', '.join(EVALUATORS)})")
    if family is None:
        family = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    elif cfg.n_tasks != family.n_tasks:
        cfg = apply_overrides(cfg, {"n_tasks": family.n_tasks})
    cache = cache if cache is not None else MemoryCache()
    device = get_device(cfg.device)
    if cfg.affinity.score == "success" and not family.has_success:
        raise ConfigError(f"invalid affinity.score='success': family {family.name} reports no success")
    n = family.n_tasks
    say = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else (lambda msg: None)
    all_tasks, all_ids = list(family.source), list(range(n))

    # ---- 1. meta-train θ*
    say(f"[1/7] meta-training on {n} {family.name} tasks")

    policy, meta_curve, meta_seconds = shared_meta_policy(family, cfg, device, progress)
    cache.times["meta_train"] = meta_seconds

    def _eval_meta():
        ev = evaluate_policy(policy, family, all_tasks, all_ids, cfg.evaluation.episodes, cfg.seed,
                             cfg.evaluation.deterministic, device, cfg.evaluation.envs_per_task)
        rnd = evaluate_policy("random", family, all_tasks, all_ids, cfg.evaluation.episodes, cfg.seed, device=device,
                              envs_per_task=cfg.evaluation.envs_per_task)
        return {"meta": ev.to_stage(), "random": rnd.to_stage()}
    evals = cache.get_or_compute("evaluate_meta", _eval_meta)

    # ---- 2. collect rollouts of θ* and 3. gradient features
    say("[2/7] collecting rollouts of θ* and projecting gradient features")
    projector = projector_of(policy, cfg)
    rollout, features = features_stage(cache, policy, family, projector, cfg, device, progress)

    # ---- 4. surrogate on m subsets and 5. scores
    members = subsets_of(n, cfg)
    say(f"[3/7] fitting the surrogate on {len(members)} subsets of {cfg.affinity.subset_size} tasks")

    def _surrogate():
        fit = surrogate_fits(policy, features, members, projector, cfg)
        say(f"[4/7] scoring θ̂_S on each task of S ({cfg.affinity.score})")
        scores = estimate_scores(policy, family, rollout, features, members, fit, projector, cfg, device)
        return {"fit": dict(vars(fit)), "scores": torch.as_tensor(scores)}
    sur = cache.get_or_compute("surrogate", _surrogate)
    fit = SurrogateFit(**sur["fit"])
    scores = sur["scores"].numpy()

    # ---- 6. affinity and clustering
    say("[5/7] affinity matrix and clustering")
    affinity = affinity_of(members, scores, cfg)
    labels, X = cluster(affinity, cfg)

    # ---- 7. group-wise training
    groups: list[GroupOutcome] = []
    if train_groups_too:
        say(f"[6/7] training one policy per group ({len(set(labels.tolist()))} groups, init={cfg.group_init})")

        def _groups():
            make = getattr(cache, "checkpoint", None)
            outs = train_groups(family, policy, labels, cfg, device, progress,
                                None if make is None else (lambda g: make("group_train", f"g{g}")))
            return {"labels": torch.as_tensor(labels),
                    "groups": [{"tasks": o.tasks, "train": o.train.to_stage(),
                                "evaluation": o.evaluation.to_stage()} for o in outs]}
        stored_groups = cache.get_or_compute("group_train", _groups)
        if not np.array_equal(stored_groups["labels"].numpy(), labels):
            raise RuntimeError("cached group training belongs to other groups; rerun with force")
        groups = [GroupOutcome(list(g["tasks"]), TrainResult.from_stage(g["train"]), Evaluation.from_stage(g["evaluation"]))
                  for g in stored_groups["groups"]]
    say("[7/7] done")
    return PipelineResult(config=cfg, family=family, policy=policy, meta_train=meta_curve,
                          meta_eval=Evaluation.from_stage(evals["meta"]), random_eval=Evaluation.from_stage(evals["random"]),
                          members=members, scores=scores, rel_dist_raw=fit.rel_dist_raw.cpu().numpy(),
                          rel_dist=fit.rel_dist.cpu().numpy(), affinity=affinity, sdp_X=X, labels=labels,
                          groups=groups, rollout=rollout, features=features, fit=fit, projector=projector,
                          stage_times=dict(cache.times))
