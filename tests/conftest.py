"""Tests run torch single-threaded, as `pgx` does (small networks on few cores)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PGX_PROGRESS", "0")

import torch  # noqa: E402

torch.set_num_threads(1)
