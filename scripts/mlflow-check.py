#!/usr/bin/env python3
"""Reads what TradAI logged to an MLflow server with MLflow's own Python client and checks it.

Run by crates/tracking/tests/it (with the MLflow venv's python) after TradAI's Rust client has
logged a run and registered a model version:

    python scripts/mlflow-check.py EXPECTED.json

EXPECTED.json:
    {"tracking_uri": "http://127.0.0.1:5055", "run_id": "...",
     "status": "FINISHED", "run_name": "...",
     "params": {"k": "v"}, "metrics": {"k": 1.5}, "tags": {"k": "v"},
     "artifacts": {"trades.json": "<utf-8 content>", "plots/equity.svg": "..."},
     "model": {"name": "...", "champion": 2, "stage": "Production", "tags": {"k": "v"}}}

Exits 0 and prints one line when everything matches; otherwise prints every mismatch and exits 1.
"""

import json
import math
import os
import sys
import tempfile

from mlflow import MlflowClient


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        want = json.load(f)
    client = MlflowClient(tracking_uri=want["tracking_uri"], registry_uri=want["tracking_uri"])
    problems = []

    def check(what, got, expected):
        same = got == expected
        if isinstance(got, float) and isinstance(expected, float) and math.isnan(got) and math.isnan(expected):
            same = True
        if not same:
            problems.append(f"{what}: got {got!r}, expected {expected!r}")

    run = client.get_run(want["run_id"])
    check("status", run.info.status, want["status"])
    check("run name", run.info.run_name, want["run_name"])
    for k, v in want["params"].items():
        check(f"param {k}", run.data.params.get(k), v)
    for k, v in want["metrics"].items():
        check(f"metric {k}", run.data.metrics.get(k), float("nan") if v is None else float(v))
    for k, v in want["tags"].items():
        check(f"tag {k}", run.data.tags.get(k), v)

    # Listing: the root, then each directory.
    listed = set()
    pending = [None]
    while pending:
        d = pending.pop()
        for fi in client.list_artifacts(want["run_id"], d):
            if fi.is_dir:
                pending.append(fi.path)
            else:
                listed.add(fi.path)
    check("artifact listing", sorted(listed), sorted(want["artifacts"]))
    with tempfile.TemporaryDirectory() as tmp:
        for path, content in want["artifacts"].items():
            local = client.download_artifacts(want["run_id"], path, tmp)
            with open(local, encoding="utf-8") as f:
                check(f"artifact {path}", f.read(), content)
            os.remove(local)

    model = want.get("model")
    if model:
        mv = client.get_model_version_by_alias(model["name"], "champion")
        check("champion version", int(mv.version), model["champion"])
        check("champion stage", mv.current_stage, model["stage"])
        check("champion run", mv.run_id, want["run_id"])
        for k, v in model.get("tags", {}).items():
            check(f"model version tag {k}", mv.tags.get(k), v)

    if problems:
        for p in problems:
            print(f"mismatch: {p}")
        return 1
    print(f"ok: run {want['run_id']} read back with mlflow {__import__('mlflow').__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
