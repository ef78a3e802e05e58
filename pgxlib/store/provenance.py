"""Provenance of a result: package versions, git state, device, timestamps, and its Markdown summary."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from pgxlib.store.results import Result, canonical, flatten_config, repo_root, to_json

VERSIONED_PACKAGES = ("torch", "numpy", "gymnasium", "highway-env", "metaworld", "cvxpy", "scikit-learn", "pgxlib")


# ---------------------------------------------------------------------------------------------
# Provenance metadata
# ---------------------------------------------------------------------------------------------

def package_versions() -> dict[str, str | None]:
    """Versions of Python and the packages a result depends on (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit of the working tree and whether it has uncommitted changes (outside results/runs)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", ".", ":(exclude)results", ":(exclude)runs")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, Any]:
    """CPU model, core count, the torch device results were computed on and the GPU, if any."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "torch_device": "cuda" if cuda else "cpu",
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "platform": platform.platform()}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_meta(experiment: str, profile: str, family: str, seed: int, params: Mapping[str, Any],
               key: str, config: Any, stage_times: Mapping[str, float], total_time: float,
               fingerprint: Mapping[str, Any], resumed: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The provenance block stored with every result."""
    flat = to_json(flatten_config(config if config is not None else {}), "config")
    seeds = {"seed": seed, **{k: v for k, v in flat.items() if k.rsplit(".", 1)[-1] == "seed" and k != "seed"}}
    return {
        "experiment": experiment,
        "key": key,
        "parameters": {"profile": profile, "family": family, "seed": seed, "params": canonical(params)},
        "config": flat,
        "seeds": seeds,
        "versions": package_versions(),
        "git": git_state(),
        "stage_times": {k: float(v) for k, v in stage_times.items()},
        "resumed_stages": sorted(resumed or {}),
        "total_time": float(total_time),
        "device": device_info(),
        "timestamp": utc_now(),
        "fingerprint": dict(fingerprint),
    }


# ---------------------------------------------------------------------------------------------
# Provenance for chapters
# ---------------------------------------------------------------------------------------------

def _short(commit: str | None) -> str:
    return commit[:10] if commit else "unknown"


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.name


def provenance_markdown(result: Result) -> str:
    """MyST markdown naming the commit, time, profile, device and wall time of `result`.

    A stale result gets a warning admonition: the code changed since the commit that produced it.
    """
    meta = result.meta
    git = meta.get("git") or {}
    params = meta.get("parameters") or {}
    device = meta.get("device") or {}
    commit = _short(git.get("commit")) + (" (with uncommitted changes)" if git.get("dirty") else "")
    where = "computed in this run" if result.fresh else "loaded from the store"
    line = (f"Result `{_display_path(result.path)}` ({where}): commit `{commit}`, {meta.get('timestamp', '?')}, "
            f"profile `{params.get('profile', '?')}`, {device.get('torch_device', '?')} on "
            f"{device.get('gpu') or device.get('cpu', '?')}, {meta.get('total_time', float('nan')):.1f} s.")
    if not result.stale:
        return line
    return (f"{line}\n\n```{{warning}}\nStale result: the code of this experiment changed after commit "
            f"`{_short(git.get('commit'))}` produced it ({meta.get('timestamp', '?')}). The numbers below are "
            f"from that older code. Recompute with `--force` (or `force = True`).\n```\n")


def show_provenance(result: Result) -> None:
    """Display `provenance_markdown(result)` in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(provenance_markdown(result)))
