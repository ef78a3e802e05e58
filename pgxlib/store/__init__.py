"""The results store: stored results, code fingerprints, provenance, stage caches, golden values.

Writes are atomic (temporary file, then rename) and carry SHA-256 digests checked on load (`checksums`); stored
results follow a schema (`schema`); `guard` checks the folders and variables before anything is computed.
Nothing is unpickled from a stored result.
"""
from pgxlib.store.cache import MemoryCache, StageCache, StageView
from pgxlib.store.fingerprint import code_files, code_fingerprint
from pgxlib.store.provenance import (
                                     build_meta,
                                     device_info,
                                     git_state,
                                     package_versions,
                                     provenance_markdown,
                                     show_provenance,
                                     utc_now,
)
from pgxlib.store.results import (
                                     ARRAYS_FILE,
                                     CorruptResult,
                                     PACKAGE_DIR,
                                     RESULT_FILE,
                                     Result,
                                     ResultError,
                                     canonical,
                                     flatten_config,
                                     lookup,
                                     read_result,
                                     repo_root,
                                     result_dir,
                                     result_key,
                                     results_root,
                                     runs_root,
                                     stage_dir,
                                     stored_results,
                                     to_json,
                                     write_result,
)

__all__ = ["ARRAYS_FILE", "CorruptResult", "PACKAGE_DIR", "RESULT_FILE", "MemoryCache", "Result", "ResultError", "StageCache",
           "StageView", "build_meta", "canonical", "code_files", "code_fingerprint", "device_info", "flatten_config",
           "git_state", "lookup", "package_versions", "provenance_markdown", "read_result", "repo_root",
           "result_dir", "result_key", "results_root", "runs_root", "show_provenance", "stage_dir",
           "stored_results", "to_json", "utc_now", "write_result"]
