#!/usr/bin/env python3
"""Keyword spotting over a manifest with Dask: the `ossicle` Python module mapped over the files of a
manifest on a dask.distributed cluster (docs/python.md).

    # 4 local worker processes:
    PYTHONPATH=build/release/python:scripts/dask /usr/bin/python3 scripts/dask/spot_manifest.py \\
        test-audio/manifest.tsv --model kws.safetensors --keywords yes,no --workers 4 --out hits.jsonl
    # an existing cluster (dask scheduler + dask worker processes that can `import ossicle`):
    ... spot_manifest.py manifest.tsv --model kws.safetensors --scheduler tcp://head:8786
    # no cluster at all (the single-process reference):
    ... spot_manifest.py manifest.tsv --model kws.safetensors --workers 0

The manifest is a TSV file with a header line and a `path` column (relative paths resolve against the
manifest's folder), like test-audio/manifest.tsv and the manifests of `ossicle train`. Output: one JSON
line per file, in manifest order, {"file": ..., "hits": [{keyword, start_s, end_s, score}], "duration_s": ...}
or {"file": ..., "error": "...", "error_type": "AudioError"} for a file that could not be processed.

Each worker process loads the model once (a per-process cache) and runs files one after another; the
bindings release the GIL while they compute, so threads_per_worker > 1 also runs files in parallel.
The model path must be readable by every worker (a shared file system on a real cluster).
"""
import argparse
import csv
import json
import sys
from pathlib import Path

import ossicle

_models = {}  # per worker process: model path -> ossicle.Model


def _model(path):
    if path not in _models:
        _models[path] = ossicle.Model(path)
    return _models[path]


def read_manifest(manifest):
    """The absolute audio paths of a manifest, in its order."""
    manifest = Path(manifest)
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if rows and "path" not in rows[0]:
        raise ossicle.ConfigError(f"{manifest}: no 'path' column in the header line")
    return [str((manifest.parent / row["path"]).resolve()) for row in rows]


def spot_file(path, model_path, options):
    """The result record of one file (what each Dask task computes)."""
    try:
        model = _model(model_path)
        rate = model.features["frame"]["sample_rate_hz"]
        samples = ossicle.read_audio(path, sample_rate_hz=rate)
        hits = ossicle.spot(model, samples, **options)
        return {"file": path, "duration_s": len(samples) / rate, "hits": hits}
    except ossicle.AudioError as e:  # a bad file is reported, the run goes on; other errors stop it
        return {"file": path, "error": str(e), "error_type": type(e).__name__}


def spot_files(paths, model_path, client=None, **options):
    """Results in `paths` order: on the Dask `client`'s cluster, or in this process when client is None."""
    ossicle.Model(model_path)  # fail early, here, on a bad model (ModelFormatError) or option (ConfigError)
    if client is None:
        return [spot_file(p, model_path, options) for p in paths]
    futures = client.map(spot_file, paths, model_path=model_path, options=options, pure=False)
    return client.gather(futures)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="TSV with a header line and a `path` column")
    parser.add_argument("--model", required=True, help="keyword model (.safetensors)")
    parser.add_argument("--keywords", default="", help="comma-separated labels (default: every non-filler label)")
    parser.add_argument("--threshold", type=float, default=0.5, help="confidence a hit needs, in (0, 1]")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    parser.add_argument("--workers", type=int, default=2,
                        help="without --scheduler: local worker processes (0: no Dask, this process only)")
    parser.add_argument("--out", help="JSON lines output (default: standard output)")
    args = parser.parse_args(argv)

    paths = read_manifest(args.manifest)
    options = {"keywords": args.keywords, "threshold": args.threshold}
    if args.scheduler or args.workers > 0:
        from dask.distributed import Client, LocalCluster
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None))
        with client:
            results = spot_files(paths, args.model, client, **options)
    else:
        results = spot_files(paths, args.model, None, **options)

    out = open(args.out, "w") if args.out else sys.stdout
    for r in results:
        out.write(json.dumps(r) + "\n")
    if args.out:
        out.close()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ossicle.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)
