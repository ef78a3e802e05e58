"""Test doubles shared by the report tests: a stored result and the scorecard's lookup of it."""


class StoredResult:
    """A stored result with `metrics` (dotted or tuple keys), as the scorecard's lookup returns it."""

    def __init__(self, metrics, stale=False, commit="c", timestamp="t", total_time=1.0):
        self.metrics, self.arrays, self.stale, self.commit, self.timestamp = metrics, {}, stale, commit, timestamp
        self.meta = {"parameters": {"profile": "default"}, "total_time": total_time}

    def get(self, key, default=None):
        node = {"metrics": self.metrics}
        for part in key.split(".") if isinstance(key, str) else key:
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


class StoredLookup:
    """The scorecard's `Lookup` that finds one stored result for every request."""

    def __init__(self, metrics):
        self.stored = StoredResult(metrics)

    def result(self, experiment, params):
        return self.stored, None


class Registry:
    """find_result / run_command / implemented over a dict {(experiment, family): result}."""

    def __init__(self, stored):
        self.stored = stored

    def implemented(self, name):
        return True

    def find_result(self, name, profile, family, seed=0, **params):
        return self.stored.get((name, family))

    def run_command(self, name, profile, family, seed=0, **params):
        return f"pgx run {name} --profile {profile} -p family {family}"
