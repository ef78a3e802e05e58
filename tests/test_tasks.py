"""Task families: counts, determinism, working envs with shared spaces, and tasks that really differ."""
from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from pgxlib.config import ConfigError
from pgxlib.tasks import Task, design_groups, make_family
from pgxlib.tasks.lunarlander import GROUP_ACTIONS

CONTROL = ["cartpole", "lunarlander", "nav2d", "highway", "planted"]
STEPS = {"cartpole": 30, "lunarlander": 30, "nav2d": 30, "highway": 4, "planted": 30}


def _time_limit(env: gym.Env) -> int | None:
    """The max_episode_steps of the first TimeLimit in the wrapper chain, or None."""
    while True:
        if isinstance(env, TimeLimit):
            return env._max_episode_steps
        if not hasattr(env, "env"):
            return None
        env = env.env


def _check_env(family, task: Task, steps: int) -> None:
    env = family.make_env(task)
    assert _time_limit(env) == family.max_episode_steps
    obs_space, act_space = family.spaces
    assert env.observation_space == obs_space and env.action_space == act_space
    assert isinstance(obs_space, gym.spaces.Box) and obs_space.dtype == np.float32
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == obs_space.shape and obs.dtype == np.float32
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == obs_space.shape and obs.dtype == np.float32
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        if family.has_success:
            assert info["success"] in (0.0, 1.0)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def _trajectory(family, task: Task, actions) -> list[tuple[np.ndarray, float]]:
    """(observation, reward) per step of a fixed action sequence from reset(seed=0)."""
    env = family.make_env(task)
    obs, _ = env.reset(seed=0)
    out = [(obs, 0.0)]
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out.append((obs, float(reward)))
        if terminated or truncated:
            break
    env.close()
    return out


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.allclose(x[0], y[0]) and np.isclose(x[1], y[1]) for x, y in zip(a, b))


@pytest.mark.parametrize("name", CONTROL)
def test_counts_and_splits(name):
    fam = make_family(name, n_tasks=4, seed=0, n_target=3)
    assert fam.name == name and fam.n_tasks == 4 and len(fam.target) == 3
    assert [t.index for t in fam.source] == [0, 1, 2, 3] and {t.split for t in fam.source} == {"source"}
    assert [t.index for t in fam.target] == [0, 1, 2] and {t.split for t in fam.target} == {"target"}
    assert all(t.family == name for t in fam.source + fam.target)
    pm = fam.param_matrix(fam.source + fam.target)
    assert pm.shape == (7, len(fam.param_ranges)) and np.all((pm >= -1e-9) & (pm <= 1 + 1e-9))
    assert 0 <= fam.nearest_source(fam.target[0]) < 4
    assert len({t.params for t in fam.source}) == 4


@pytest.mark.parametrize("name", CONTROL)
def test_deterministic_under_seed(name):
    a, b = make_family(name, 5, seed=3, n_target=4), make_family(name, 5, seed=3, n_target=4)
    c = make_family(name, 5, seed=4, n_target=4)
    assert a.source == b.source and a.target == b.target
    assert [t.params for t in a.source] != [t.params for t in c.source]
    assert [t.params for t in a.target] != [t.params for t in c.target]
    assert make_family(name, 5, seed=3, n_target=9).source == a.source
    assert make_family(name, 8, seed=3, n_target=4).target == a.target


@pytest.mark.parametrize("name", CONTROL)
def test_every_env_steps_with_shared_spaces(name):
    fam = make_family(name, n_tasks=3, seed=1, n_target=2)
    pickle.dumps(fam.env_factory)
    for task in fam.source + fam.target:
        _check_env(fam, task, STEPS[name])


@pytest.mark.parametrize("name", CONTROL)
def test_tasks_stack_in_one_sync_vector_env(name):
    fam = make_family(name, n_tasks=3, seed=2, n_target=1)
    envs = gym.vector.SyncVectorEnv([lambda t=t: fam.make_env(t) for t in fam.source])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, *fam.observation_space.shape) and obs.dtype == np.float32
    for _ in range(3):
        obs, rewards, *_ = envs.step(envs.action_space.sample())
        assert np.all(np.isfinite(rewards))
    envs.close()


@pytest.mark.parametrize("name", CONTROL)
def test_task_parameters_change_the_environment(name):
    fam = make_family(name, n_tasks=2, seed=0, n_target=1)
    rng = np.random.default_rng(0)
    space = fam.action_space
    n = 40 if name != "highway" else 6
    actions = [rng.integers(space.n) if isinstance(space, gym.spaces.Discrete)
               else rng.uniform(-1, 1, space.shape).astype(np.float32) for _ in range(n)]
    first = _trajectory(fam, fam.source[0], actions)
    assert _same(first, _trajectory(fam, fam.source[0], actions))
    assert not _same(first, _trajectory(fam, fam.source[1], actions))


def test_cartpole_physics_and_derived_quantities():
    fam = make_family("cartpole", 3, seed=0, n_target=1)
    for task in fam.source:
        env = fam.make_env(task).unwrapped
        p = task.as_dict()
        assert env.length == p["length"] and env.force_mag == p["force_mag"]
        assert env.total_mass == pytest.approx(p["masspole"] + p["masscart"])
        assert env.polemass_length == pytest.approx(p["masspole"] * p["length"])
    actions = [1] * 15
    a, b = _trajectory(fam, fam.source[0], actions), _trajectory(fam, fam.source[1], actions)
    assert not np.allclose(a[-1][0], b[-1][0])


def _with(task: Task, **params) -> Task:
    return Task(task.family, task.split, task.index, tuple((k, params.get(k, v)) for k, v in task.params))


@pytest.mark.parametrize("name,n_groups", [("cartpole", 2), ("lunarlander", 3), ("nav2d", 3), ("planted", 3)])
def test_designed_groups_are_balanced_and_seeded(name, n_groups):
    fam = make_family(name, 10, seed=0, n_target=30)
    groups = design_groups(fam)
    assert set(groups.tolist()) == set(range(n_groups))
    assert np.bincount(groups).max() - np.bincount(groups).min() <= 1
    assert len({t.param("group") for t in fam.target}) == n_groups
    assert np.array_equal(groups, design_groups(make_family(name, 10, seed=0, n_target=30)))
    assert design_groups(make_family("highway", 3, seed=0, n_target=1)) is None


def test_cartpole_group_reverses_the_push():
    fam = make_family("cartpole", 1, seed=0, n_target=1)
    normal, reversed_ = _with(fam.source[0], group=0), _with(fam.source[0], group=1)
    assert _same(_trajectory(fam, normal, [1, 1, 0, 1]), _trajectory(fam, reversed_, [0, 0, 1, 0]))
    assert not _same(_trajectory(fam, normal, [1] * 4), _trajectory(fam, reversed_, [1] * 4))


def test_lunarlander_groups_rewire_the_engines():
    fam = make_family("lunarlander", 1, seed=0, n_target=1)
    task = fam.source[0]
    plan = [2, 2, 1, 3, 0, 2]
    wired = {g: _trajectory(fam, _with(task, group=g), [GROUP_ACTIONS[g].index(a) for a in plan]) for g in range(3)}
    assert _same(wired[0], wired[1]) and _same(wired[0], wired[2])
    assert not _same(_trajectory(fam, _with(task, group=0), plan), _trajectory(fam, _with(task, group=1), plan))
    assert not _same(_trajectory(fam, _with(task, group=0), plan), _trajectory(fam, _with(task, group=2), plan))


def test_nav2d_goals_dynamics_and_success():
    fam = make_family("nav2d", n_tasks=9, seed=0, n_target=30)
    assert fam.has_success
    sectors = [t.param("group") for t in fam.source]
    assert sorted(sectors) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for t in fam.source + fam.target:
        goal = np.array([t.param("goal_x"), t.param("goal_y")])
        assert 0.5 - 1e-3 <= np.linalg.norm(goal) <= 1.0 + 1e-3
        centre = np.pi / 2 + 2 * np.pi * t.param("group") / 3
        gap = np.angle(np.exp(1j * (np.arctan2(goal[1], goal[0]) - centre)))
        assert abs(gap) <= np.deg2rad(25) + 1e-3
    task = fam.source[0]
    goal = np.array([task.param("goal_x"), task.param("goal_y")])
    env = fam.make_env(task)
    obs, _ = env.reset(seed=0)
    assert np.allclose(obs, 0.0)
    obs, reward, *_ = env.step(np.array([10.0, 0.0], dtype=np.float32))
    assert np.allclose(obs, [0.1, 0.0])
    assert reward == pytest.approx(-np.linalg.norm([0.1, 0.0] - goal), abs=1e-6)
    for _ in range(30):
        step = np.clip((goal - obs) / 0.1, -1, 1).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(step)
    assert info["success"] == 1.0 and reward > -0.1
    for _ in range(60):
        obs, *_ = env.step(np.array([-1.0, -1.0], dtype=np.float32))
    assert np.allclose(obs, [-2.0, -2.0])


def test_highway_numpy_observation_matches_highway_env():
    from highway_env.envs.common.observation import KinematicObservation

    fam = make_family("highway", n_tasks=2, seed=0, n_target=1)
    env = fam.make_env(fam.source[0])
    env.reset(seed=0)
    core = env.unwrapped
    assert core.config["lanes_count"] == fam.source[0].param("lanes_count")
    assert core.config["high_speed_reward"] == fam.source[0].param("high_speed_reward")
    for _ in range(4):
        obs, _, terminated, truncated, _ = env.step(1)
        reference = KinematicObservation(core, **core.config["observation"]).observe()
        np.testing.assert_allclose(obs, reference.reshape(-1), atol=1e-6)
        if terminated or truncated:
            break


def test_unknown_family_raises_config_error():
    with pytest.raises(ConfigError):
        make_family("nosuch")


@pytest.fixture(scope="module")
def metaworld_family():
    return make_family("metaworld", n_tasks=2, seed=0, n_target=2)


@pytest.mark.metaworld
def test_metaworld_tasks(metaworld_family):
    fam = metaworld_family
    assert fam.n_tasks == 2 and len(fam.target) == 2 and fam.has_success
    assert make_family("metaworld", 2, seed=0, n_target=2).source == fam.source
    assert make_family("metaworld", 2, seed=5, n_target=2).source != fam.source
    full = make_family("metaworld", 10, seed=0, n_target=20)
    assert [t.param("mt10_index") for t in full.source] == list(range(10))
    assert {t.param("goal_seed") for t in full.source} == {0}
    assert len({t.param("goal_seed") for t in full.target}) == 20
    assert all(full.nearest_source(t) == t.param("mt10_index") for t in full.target)
    with pytest.raises(ValueError):
        make_family("metaworld", n_tasks=11)


@pytest.mark.metaworld
def test_metaworld_envs_step_and_differ(metaworld_family):
    fam = metaworld_family
    assert fam.observation_space.shape == (39,) and fam.action_space.shape == (4,)
    _check_env(fam, fam.source[0], steps=5)
    _check_env(fam, fam.target[0], steps=5)
    index = fam.source[0].param("mt10_index")
    same_env_other_goals = next(t for t in fam.target if t.param("mt10_index") == index)
    a = _trajectory(fam, fam.source[0], [])
    b = _trajectory(fam, same_env_other_goals, [])
    assert not np.allclose(a[0][0], b[0][0])


@pytest.mark.parametrize("name", ["cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld"])
def test_the_seeded_split_keeps_source_tasks_whatever_the_number_of_targets(name):
    few, many = make_family(name, 4, seed=3, n_target=5), make_family(name, 4, seed=3, n_target=40)
    assert few.source == many.source and len(few.target) == 5 and len(many.target) == 40
    assert make_family(name, 4, seed=4).source != few.source


# ---- planted: three planted groups of action frames ---------------------------------------------

def _goal(task: Task) -> np.ndarray:
    return np.array([task.param("goal_x"), task.param("goal_y")])


def test_planted_spaces_and_seeded_determinism():
    fam = make_family("planted", 10, seed=0)
    assert fam.has_success and fam.max_episode_steps == 50
    assert fam.observation_space == gym.spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
    assert fam.action_space == gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    actions = np.random.default_rng(1).uniform(-1, 1, (60, 2)).astype(np.float32)
    for task in fam.source[:3]:
        first = _trajectory(fam, task, actions)
        assert len(first) == 51 and np.allclose(first[0][0], 0.0)  # starts at the origin, truncated at 50
        assert _same(first, _trajectory(fam, task, actions))
    assert make_family("planted", 10, seed=0).source == fam.source


def test_planted_same_action_moves_groups_120_degrees_apart():
    fam = make_family("planted", 10, seed=0)
    headings = {}
    for task in fam.source[:3]:
        env = fam.make_env(task)
        env.reset(seed=0)
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        assert np.linalg.norm(obs) == pytest.approx(0.1, abs=1e-6)
        headings[task.param("group")] = np.degrees(np.arctan2(obs[1], obs[0]))
        assert task.param("rotation_deg") == 120.0 * task.param("group")
    assert np.degrees(np.angle(np.exp(1j * np.radians(headings[1] - headings[0])))) == pytest.approx(120.0, abs=1e-3)
    assert np.degrees(np.angle(np.exp(1j * np.radians(headings[2] - headings[0])))) == pytest.approx(-120.0, abs=1e-3)
    env = fam.make_env(fam.source[1])  # a corner action is clipped to the unit disc: every frame walks at most 0.1
    env.reset(seed=0)
    obs, *_ = env.step(np.array([1.0, 1.0], dtype=np.float32))
    assert np.linalg.norm(obs) == pytest.approx(0.1, abs=1e-6)


def test_planted_labels_goal_disc_and_group_routing():
    from pgxlib.tasks.planted import planted_labels

    fam = make_family("planted", 10, seed=0, n_target=30)
    labels = planted_labels(fam)
    assert labels.dtype.kind == "i" and labels.shape == (10,)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0] and np.bincount(labels).tolist() == [4, 3, 3]
    assert [t.param("group") for t in fam.target] == [j % 3 for j in range(30)]
    for t in fam.source + fam.target:
        assert np.linalg.norm(_goal(t) - [1.0, 0.0]) <= 0.3 + 1e-3
    assert all(fam.source[fam.nearest_source(t)].param("group") == t.param("group") for t in fam.target)


def test_planted_success_is_reported():
    fam = make_family("planted", 3, seed=0, n_target=1)
    for task in fam.source:
        goal, theta = _goal(task), np.radians(task.param("rotation_deg"))
        to_frame = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])  # R(-θ)
        env = fam.make_env(task)
        obs, _ = env.reset(seed=0)
        obs, reward, *_, info = env.step(np.zeros(2, dtype=np.float32))
        assert info["success"] == 0.0 and reward == pytest.approx(-np.linalg.norm(goal), abs=1e-6)
        for _ in range(20):
            step = to_frame @ ((goal - obs) / 0.1)
            step = (step / max(1.0, np.linalg.norm(step))).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(step)
        assert info["success"] == 1.0 and reward > -0.1 and not terminated
