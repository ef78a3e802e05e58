"""The methods of the main results and ablations: the meta-RL protocol (`pgxlib.metarl`, the control
families) and the multi-objective protocol (Meta-World, `trained_groups`).

Each seed has one θ* (the shared meta-policy, an MLP trained with multitask PPO). The grouping methods
partition the n source tasks; every group gets a MAML meta-policy from θ* and every target task is
adapted from its group's meta-policy:

- ``multitask``: one group of all n tasks (one meta-policy for all tasks);
- ``soft_modularization`` / ``paco``: one group of all tasks, with that architecture; its starting
  policy is trained exactly as θ* is (the same multitask PPO budget), since θ* is an MLP;
- ``random_grouping``: a uniformly random partition into k groups;
- ``gradient_similarity_grouping``: SDP on the cosine similarity of per-task mean projected policy
  gradients at θ* (`estimate.gradient_similarity`);
- ``policygradex``: SDP on the surrogate affinity U (`pipeline.run_policygradex`).

Two references (`REFERENCE_METHODS`) bound what grouping can gain: ``truth_grouping`` (the same SDP on the
measured affinity) and ``design_grouping`` (the designed groups, where the family has them).

Every method spends the same MAML steps per source task, hence the same total.

On the multi-objective protocol (Meta-World MT10), there are no targets and no adaptation: each method's
policies are trained with PPO from a fresh initialisation on their own source tasks (`group_ppo`, the same
steps per task for every method) and every source task is evaluated with its group's policy (success
rate, `evaluation.episodes` greedy episodes per task). Multitask, Soft Modularization, PaCo and CARE are one
policy of their architecture on all tasks; the groupings train one `GROUP_ARCH` policy per group.

Both protocols live in `pgxlib.training` (`cached_meta_rl`, `trained_groups`, re-exported here), stored in
shared stores keyed by the starting policy, the settings and the partition, so a partition found by two
methods, two knob values or two experiments is trained once.
"""
from __future__ import annotations

from pgxlib.training import cached_meta_rl, group_policies_key, trained_groups  # noqa: F401  (re-exported)

METHOD_NAMES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping",
                "policygradex")
"""The methods of the main table, in the paper's order."""
REFERENCE_METHODS = ("truth_grouping", "design_grouping")
"""Groupings that measure what grouping can gain, not competitors (meta-RL protocol only): ``truth_grouping``,
the SDP with PolicyGradEx's k on the MEASURED affinity of the seed's θ* (θ* fine-tuned on the subsets PolicyGradEx
sampled, `pgxlib.finetunes`), and ``design_grouping``, the groups the family was designed with
(`tasks.design_groups`; families without them have no such row). Both are trained and scored exactly like the
methods of `METHOD_NAMES`, from the same θ*, on the same targets."""
ARCH_OF_METHOD = {"soft_modularization": "soft_modularization", "paco": "paco"}
"""Methods that differ by network architecture (one policy for all tasks); the rest are MLP groupings."""
MULTI_OBJECTIVE_METHODS = ("multitask", "soft_modularization", "paco", "care", "random_grouping",
                           "gradient_similarity_grouping", "policygradex")
"""The methods of the paper's Meta-World column, in its order (CARE is a Meta-World-only baseline)."""
SINGLE_POLICY_ARCH = {"multitask": "mlp", "soft_modularization": "soft_modularization", "paco": "paco",
                      "care": "care"}
"""Multi-objective methods that are one policy of an architecture on all tasks."""
GROUP_ARCH = "soft_modularization"
"""The architecture of a group's policy on the multi-objective protocol: the paper trains one Soft
Modularization policy per group on Meta-World (random and gradient-similarity groups too, so that the
groupings differ only in their partition)."""
