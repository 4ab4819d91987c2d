#!/usr/bin/env python3
"""ossicle and CMU PocketSphinx side by side on the same dev clips: accuracy and speed in one table.

    bench/compare-pocketsphinx.py --task digits --model runs/fsdd-digits/model.safetensors
    bench/compare-pocketsphinx.py --task commands --model models/pretrained/commands.safetensors \\
        --repeats 3 --jobs 2 --out bench/results/commands

What runs (every command is printed on stderr):
  * PocketSphinx (Debian pocketsphinx + pocketsphinx-en-us) through ../shared/bench/pocketsphinx_eval.py,
    in both of its search modes over the same vocabulary: `kws` (keyword list, one threshold for every
    word, --kws-threshold) and `jsgf` (a grammar of exactly those words: one digit, or one command word or
    nothing). Clips are converted to 16 kHz WAV once (cached, not timed); decoding is timed.
  * `ossicle eval --model M --manifest MANIFEST --jobs J` for every --model; with --transcripts (digits)
    also `... --columns transcript=transcript`: the model's transcript of each clip (its decoder.ctc_beam
    metadata: models/pretrained/digits.safetensors allows the ten digit words only, as the jsgf grammar does)
    is right when it is the clip's digit alone.
Both get the same --jobs (parallel processes for PocketSphinx, threads for ossicle).

Accuracy: digits = share of clips whose digit is right (FSDD `transcript` column). commands = 12-class
accuracy (yes no up down left right on off stop go _unknown_ _silence_) where "no output" counts as
_silence_ for both tools (PocketSphinx's acc12_none_as_silence; ossicle's fallback prediction); the
grammar and keyword list cannot say "unknown", so PocketSphinx also gets the 10-keyword accuracy.
Speed: x real time = audio seconds / seconds, medians over --repeats runs made in this one invocation
(interleaved, so both tools see the same machine load), for wall time (with J jobs) and for CPU time
(user + sys of the processes: one core = 1.0). PocketSphinx's decode includes starting its decoder
processes and loading its model; ossicle's whole-process figures include loading its model, reading the
FLAC files and resampling (PocketSphinx reads pre-converted WAVs).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
MANIFESTS = {
    "digits": os.path.join(SHARED, "data", "fsdd", "dev.tsv"),
    "commands": os.path.join(SHARED, "data", "speech-commands", "dev.tsv"),
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd):
    """Runs cmd; returns (stdout, wall seconds, CPU seconds of the child). Exits on failure."""
    log("+ " + " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"command failed with exit code {code}: {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return out.decode(errors="replace"), wall, ru.ru_utime + ru.ru_stime


def pocketsphinx(args, mode, work):
    out_json = os.path.join(work, f"ps-{mode}.json")
    cmd = [sys.executable, os.path.join(SHARED, "bench", "pocketsphinx_eval.py"), "--manifest", args.manifest,
           "--task", args.task, "--mode", mode, "--jobs", str(args.jobs), "--json", out_json, "--no-clips",
           "--cache-dir", args.cache_dir]
    if mode == "kws":
        cmd += ["--kws-threshold", args.kws_threshold]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    with open(out_json) as f:
        res = json.load(f)
    m, t = res["metrics"], res["timing"]
    if args.task == "digits":
        acc, note = m["acc"], ""
    else:
        acc, note = m["acc12_none_as_silence"], f"10 keywords only: {100 * m['acc_keywords_only']:.1f}%"
    return {"accuracy": acc, "note": note, "audio_s": t["audio_s"],
            "xrt_wall": t["audio_s"] / t["decode_wall_s"], "xrt_cpu": t["audio_s"] / t["decode_cpu_s"]}


def ossicle(args, model, work, columns=None):
    out_dir = os.path.join(work, "ossicle-" + os.path.basename(model) + ("-" + columns if columns else ""))
    manifest = args.manifest
    if args.limit:  # the same first N clips as pocketsphinx_eval.py --limit
        manifest = os.path.join(work, "limited.tsv")
        with open(args.manifest) as src, open(manifest, "w") as dst:
            lines = [line for line in src if line.strip()]
            base = os.path.dirname(os.path.abspath(args.manifest))
            header = lines[0].rstrip("\n").split("\t")
            ip = header.index("path")
            dst.write(lines[0])
            for line in lines[1:args.limit + 1]:
                parts = line.rstrip("\n").split("\t")
                parts[ip] = os.path.join(base, parts[ip])
                dst.write("\t".join(parts) + "\n")
    cmd = [args.ossicle, "eval", "--model", model, "--manifest", manifest, "--out", out_dir,
           "--jobs", str(args.jobs), "--progress", "never"]
    if columns:
        cmd += ["--columns", columns]
    _, wall, cpu = run(cmd)
    with open(os.path.join(out_dir, "metrics.json")) as f:
        m = json.load(f)
    audio = m["audio_seconds"]
    note = f"{m['errors']} errors" if m["errors"] else ""
    return {"accuracy": m["accuracy"], "note": note, "audio_s": audio, "xrt_wall": audio / wall,
            "xrt_cpu": audio / cpu if cpu > 0 else float("inf"),
            "xrt_scoring": m["x_real_time"] or 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=["digits", "commands"])
    ap.add_argument("--manifest", help="default: ../shared/data/fsdd/dev.tsv or speech-commands/dev.tsv")
    ap.add_argument("--model", action="append", default=[], help="ossicle model (repeatable)")
    ap.add_argument("--ossicle", default=os.path.join(ROOT, "build", "release", "apps", "ossicle"),
                    help="the ossicle binary (default: build/release/apps/ossicle)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each tool; medians are reported")
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes / threads for both tools")
    ap.add_argument("--transcripts", action="store_true",
                    help="digits: also score each ossicle model by its transcript of the clip")
    ap.add_argument("--kws-threshold", default="1e-20", help="PocketSphinx keyword threshold (kws mode)")
    ap.add_argument("--limit", type=int, default=0, help="first N clips only (testing)")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "pocketsphinx_eval_cache", "wav16k"))
    ap.add_argument("--out", help="folder for results.json and table.md (default: print only)")
    args = ap.parse_args()
    args.manifest = os.path.abspath(args.manifest or MANIFESTS[args.task])
    if not os.path.exists(args.manifest):
        sys.exit(f"{args.manifest}: no such manifest")
    if not args.model:
        log("no --model given: PocketSphinx only")
    for m in args.model:
        if not os.path.exists(m):
            sys.exit(f"{m}: no such model")
    if args.model and not os.access(args.ossicle, os.X_OK):
        sys.exit(f"{args.ossicle}: not an executable (build it, or pass --ossicle)")
    if args.transcripts and args.task != "digits":
        sys.exit("--transcripts: digits only (the commands manifest has no transcript column)")
    if shutil.which("pocketsphinx_batch") is None:
        sys.exit("pocketsphinx_batch not found: apt-get install pocketsphinx pocketsphinx-en-us sox")

    systems = [("PocketSphinx keyword list (kws)", lambda w: pocketsphinx(args, "kws", w)),
               ("PocketSphinx grammar (jsgf)", lambda w: pocketsphinx(args, "jsgf", w))]
    for m in args.model:
        systems.append((f"ossicle {os.path.basename(m)}", lambda w, m=m: ossicle(args, m, w)))
        if args.transcripts:
            systems.append((f"ossicle {os.path.basename(m)}, transcripts",
                            lambda w, m=m: ossicle(args, m, w, "transcript=transcript")))

    runs = {name: [] for name, _ in systems}
    work = tempfile.mkdtemp(prefix="compare-ps.")
    try:
        for rep in range(args.repeats):
            for name, fn in systems:
                log(f"--- repetition {rep + 1}/{args.repeats}: {name}")
                runs[name].append(fn(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name, _ in systems:
        r = runs[name]
        rows.append({"system": name, "accuracy": r[0]["accuracy"], "note": r[0]["note"],
                     "audio_s": r[0]["audio_s"],
                     "xrt_wall_median": statistics.median(x["xrt_wall"] for x in r),
                     "xrt_cpu_median": statistics.median(x["xrt_cpu"] for x in r),
                     "accuracies": [x["accuracy"] for x in r], "runs": r})
    table = [f"{args.task}: {args.manifest} ({rows[0]['audio_s']:.1f} s of audio), --jobs {args.jobs}, "
             f"medians of {args.repeats} runs", "",
             "| system | accuracy | x real time (wall) | x real time (per CPU core) | note |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        table.append(f"| {r['system']} | {100 * r['accuracy']:.1f}% | {r['xrt_wall_median']:.1f} | "
                     f"{r['xrt_cpu_median']:.1f} | {r['note']} |")
    text = "\n".join(table)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"task": args.task, "manifest": args.manifest, "jobs": args.jobs, "repeats": args.repeats,
                       "kws_threshold": args.kws_threshold, "rows": rows}, f, indent=1)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
