"""Shared training stores (`pgxlib.training`): keyed by every input, fingerprinted by training code alone."""
import numpy as np
import pytest
import torch

from pgxlib.profiles import apply_overrides, pipeline_config
from pgxlib.finetunes import finetune_key, finetune_store, finetune_subsets, stored_finetunes
from pgxlib.nets import new_policy
from pgxlib.shared_stores import state_digest
from pgxlib.store.fingerprint import code_files
from pgxlib.store.results import PACKAGE_DIR
from pgxlib.tasks import make_family
from pgxlib.training import cached_meta_rl, metarl_key, training_store


@pytest.mark.parametrize("family", ["cartpole", "metaworld"])
def test_training_code_excludes_the_estimator(family):
    """Changing the gradient estimator, the surrogate, the clustering or the pipeline retrains nothing."""
    files = {p.relative_to(PACKAGE_DIR.parent).as_posix() for p in code_files("pgxlib.training", family)}
    assert {"pgxlib/training.py", "pgxlib/rl/ppo.py", "pgxlib/rl/maml.py", "pgxlib/evaluate.py",
            f"pgxlib/tasks/{family}.py"} <= files
    assert not files & {"pgxlib/estimate/features.py", "pgxlib/estimate/projector.py", "pgxlib/estimate/surrogate.py",
                        "pgxlib/estimate/affinity.py", "pgxlib/cluster.py", "pgxlib/pipeline.py", "pgxlib/methods.py"}


def test_state_digest_sees_every_value():
    cfg = pipeline_config("smoke", "nav2d")
    fam = make_family("nav2d", cfg.n_tasks, 0)
    a, b = new_policy(fam, cfg, 0, "cpu"), new_policy(fam, cfg, 0, "cpu")
    assert state_digest(a) == state_digest(b) == state_digest(a.state_dict())
    with torch.no_grad():
        next(iter(b.parameters())).view(-1)[0] += 1e-6
    assert state_digest(a) != state_digest(b)
    assert state_digest(a) != state_digest(new_policy(fam, cfg, 1, "cpu"))


def test_metarl_key_names_start_settings_and_partition():
    cfg = pipeline_config("smoke", "nav2d")
    fam = make_family("nav2d", cfg.n_tasks, 0)
    start, labels = new_policy(fam, cfg, 0, "cpu"), np.array([0, 1, 0, 1])
    key = metarl_key(fam, cfg, start, labels, "mlp")
    assert key.startswith("nav2d-seed0-mlp-") and key.endswith("-0-1-0-1")
    assert metarl_key(fam, cfg, start, np.array([0, 0, 1, 1]), "mlp") != key
    assert metarl_key(fam, cfg, new_policy(fam, cfg, 1, "cpu"), labels, "mlp") != key
    more = apply_overrides(cfg, {"maml.steps_per_task": 2 * cfg.maml.steps_per_task})
    assert metarl_key(fam, more, start, labels, "mlp") != key
    assert metarl_key(fam, apply_overrides(cfg, {"features.proj_dim": 7}), start, labels, "mlp") == key  # estimator knob


def test_meta_rl_partition_is_trained_once_across_runs(store):
    cfg = pipeline_config("smoke", "nav2d")
    fam = make_family("nav2d", cfg.n_tasks, 0)
    start, labels = new_policy(fam, cfg, 0, "cpu"), np.array([0, 1, 0, 1])
    first = cached_meta_rl(fam, start, labels, cfg, "cpu", False)
    shared = training_store("metarl_policies", fam)
    stage = metarl_key(fam, cfg, start, labels, "mlp")
    assert stage in shared and (store / "runs" / "metarl_policies" / "nav2d").is_dir()
    again = cached_meta_rl(fam, start, labels, cfg, "cpu", False, store=shared)
    assert shared.resumed[stage] == pytest.approx(first["seconds"])
    assert again["groups"] == first["groups"] == [[0, 2], [1, 3]]
    np.testing.assert_array_equal(again["after"], first["after"])


def test_finetunes_are_stored_once_and_keep_their_cost(store):
    cfg = pipeline_config("smoke", "cartpole", seed=3)
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    state = new_policy(fam, cfg, cfg.seed, "cpu").state_dict()
    members = np.array([[1, 1, 0, 0], [0, 1, 0, 1]], dtype=bool)
    ppo = cfg.group_ppo
    first = stored_finetunes(fam, cfg, state, members, ppo, n_jobs=1)
    direct = finetune_subsets(fam, cfg, state, members, ppo, n_jobs=1)
    np.testing.assert_array_equal(first["returns"], direct["returns"])
    np.testing.assert_array_equal(first["actors"].numpy(), direct["actors"].numpy())
    shared = finetune_store(fam)
    again = stored_finetunes(fam, cfg, state, members, ppo, n_jobs=1, store=shared)
    stage = finetune_key(fam, cfg, state, members, ppo, 1, 0)
    assert stage in shared.resumed and first["seconds"] > 0
    assert again["seconds"] == pytest.approx(first["seconds"])
    np.testing.assert_array_equal(again["wall"], first["wall"])
    assert finetune_key(fam, cfg, state, members, ppo, 1, 1) != stage
    assert finetune_key(fam, cfg, state, members[::-1], ppo, 1, 0) != stage
    assert finetune_key(fam, cfg, state, members, ppo, 2, 0) != stage
