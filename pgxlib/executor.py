"""One executor for independent runs (subset fine-tunings, seeds × methods, ablation cells).

`map_jobs(fn, jobs, n_jobs)` yields ``fn(*job)`` for every job, in order, each on one torch thread:

- ``joblib`` (the default): `n_jobs` local processes (loky);
- ``ray``: Ray tasks of one CPU each. ``ray.init`` joins the cluster at ``$RAY_ADDRESS`` when it is set
  (every node needs this package installed), else starts a local Ray with `n_jobs` CPUs. Ray is an
  optional extra: ``pip install 'pgxlib[ray]'``.

The engine is the `engine` argument, else ``$PGX_ENGINE``, else joblib (``pgx --engine ray ...`` sets
``$PGX_ENGINE``). A job's seeds are fixed by its arguments, so results are identical whatever the engine.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from pgxlib.config import check_choice, check_int

ENGINES = ("joblib", "ray")


def resolve_engine(engine: str | None = None) -> str:
    """`engine`, else ``$PGX_ENGINE``, else ``joblib``; one of `ENGINES` (a one-line error otherwise)."""
    name = "engine" if engine is not None else "PGX_ENGINE"
    return check_choice(name, engine if engine is not None else os.environ.get("PGX_ENGINE", "joblib"), ENGINES)


def _one_thread(fn: Callable, *args) -> Any:
    """`fn(*args)` on one torch thread (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


def _ray(n_jobs: int):
    """The `ray` module, initialised (joining ``$RAY_ADDRESS`` or starting a local Ray of `n_jobs` CPUs)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("engine 'ray' needs Ray: pip install 'pgxlib[ray]'") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        ray.init(address=address, num_cpus=None if address else n_jobs, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    return ray


def map_jobs(fn: Callable, jobs: Sequence[tuple], n_jobs: int = 1, engine: str | None = None) -> Iterator[Any]:
    """``fn(*job)`` for each job of `jobs`, yielded in order as they finish in order (a generator, for progress)."""
    engine = resolve_engine(engine)
    n_jobs = check_int("n_jobs", n_jobs, 1)
    if engine == "joblib":
        from joblib import Parallel, delayed

        runner = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")
        yield from runner(delayed(_one_thread)(fn, *job) for job in jobs)
        return
    ray = _ray(n_jobs)
    remote = ray.remote(num_cpus=1)(_one_thread)
    refs = [remote.remote(fn, *job) for job in jobs]
    for ref in refs:
        yield ray.get(ref)


def _nothing() -> int:
    return 0


def warm_up(n_jobs: int, engine: str | None = None) -> None:
    """Start the workers before anything is timed (loky processes, or Ray and its workers)."""
    for _ in map_jobs(_nothing, [()] * n_jobs, n_jobs, engine):
        pass
