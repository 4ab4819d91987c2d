#!/usr/bin/python3
"""Side by side: ossicle's model inference vs PyTorch's nn.LSTM on the same grid, in one run.

Needs Debian's Python with python3-torch, a Release build (build/release/bench/models-benchmark) and
../shared/bench/torch_blstm.py.

  /usr/bin/python3 bench/compare-lstm.py [--quick] [--hidden 64,128,256] [--layers 2,3] [--threads 1,2]
                                          [--rounds 2] [--md OUT.md] [--json OUT.json]

Grid (torch_blstm.py's): bidirectional LSTM, F = 40, C = 32, H x L x (B, T) in {(1,100), (1,1000),
(16,100)} x threads. PyTorch runs with OpenBLAS's auto-detected kernels (--openblas-coretype auto, the
strongest setting on this machine; see its header). Rounds alternate ossicle and PyTorch so that load
from other processes hits both; each side's figure is the median over all its rounds.
frames/s = B * T / median time of one forward call (LSTM + Linear; ossicle also computes log-softmax).
Fraction of peak = GFLOP/s (matmul FLOPs, torch_blstm.py's count) / the core's fp32 FMA peak measured by
BM_PeakFma in the same run (independent 8-wide FMA chains: what one core can retire per second).

--train compares training steps instead (BM_TrainStep against torch_blstm.py's training benchmark): batch 32
x T = 100, F = 40, C = 32, one step = zero grads + forward + loss + backward + Adam (lr 1e-3), loss "ce" (frame
cross-entropy) or "ctc" (20-label targets); frames/s = 3200 / median step time; also the 1 -> 2 thread
speed-up of each side.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.environ.get("OSSICLE_MODELS_BENCHMARK", os.path.join(ROOT, "build", "release", "bench", "models-benchmark"))
TORCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench", "torch_blstm.py"))


def run_ossicle(args):
    filt = "PeakFma|Blstm/H:(%s)/L:(%s)/B:(%s)/T:(%s)/threads:(%s)/" % (
        "|".join(args.hidden.split(",")), "|".join(args.layers.split(",")), "1|16", "100|1000",
        "|".join(args.threads.split(",")))
    out = subprocess.run([BENCH, "--benchmark_filter=" + filt, "--benchmark_format=json",
                          "--benchmark_min_time=%s" % args.min_time], check=True, capture_output=True,
                         text=True).stdout
    rows = {}
    peak = None
    for b in json.loads(out)["benchmarks"]:
        if b["name"].startswith("BM_PeakFma"):
            peak = b["gflops"]
            continue
        kv = dict(p.split(":") for p in b["name"].split("/")[1:] if ":" in p)
        key = (int(kv["H"]), int(kv["L"]), int(kv["B"]), int(kv["T"]), int(kv["threads"]))
        if key[2:4] in ((1, 100), (1, 1000), (16, 100)):
            rows[key] = b["frames_per_s"]
    return rows, peak


def run_torch(args):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        cmd = ["/usr/bin/python3", TORCH, "--no-train", "--openblas-coretype", "auto", "--rounds", "1",
               "--hidden", args.hidden, "--layers", args.layers, "--threads", args.threads, "--json", j.name]
        if args.quick:
            cmd += ["--warmup", "1", "--repeats", "3", "--min-time", "0.2"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res = json.load(open(j.name))
    rows = {(r["H"], r["L"], r["B"], r["T"], r["threads"]): r["frames_per_s"] for r in res["inference"]}
    return rows, res["meta"]


def run_ossicle_train(args):
    filt = "TrainStep/H:(%s)/L:(%s)/ctc:(0|1)/threads:(%s)/" % (
        "|".join(args.hidden.split(",")), "|".join(args.layers.split(",")), "|".join(args.threads.split(",")))
    out = subprocess.run([BENCH, "--benchmark_filter=" + filt, "--benchmark_format=json",
                          "--benchmark_min_time=%s" % args.min_time], check=True, capture_output=True,
                         text=True).stdout
    rows = {}
    for b in json.loads(out)["benchmarks"]:
        kv = dict(p.split(":") for p in b["name"].split("/")[1:] if ":" in p)
        key = (int(kv["H"]), int(kv["L"]), "ctc" if kv["ctc"] == "1" else "ce", int(kv["threads"]))
        rows[key] = b["frames_per_s"]
    return rows


def run_torch_train(args):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        cmd = ["/usr/bin/python3", TORCH, "--no-infer", "--openblas-coretype", "auto", "--rounds", "1",
               "--hidden", args.hidden, "--layers", args.layers, "--threads", args.threads, "--json", j.name]
        if args.quick:
            cmd += ["--train-warmup", "1", "--train-repeats", "3", "--train-min-time", "0.2"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res = json.load(open(j.name))
    rows = {(r["H"], r["L"], r["loss"], r["threads"]): r["frames_per_s"] for r in res["training"]}
    return rows, res["meta"]


def main_train(args):
    ours, theirs, meta = {}, {}, None
    for r in range(args.rounds):
        print("round %d/%d: ossicle training steps" % (r + 1, args.rounds), file=sys.stderr, flush=True)
        for k, v in run_ossicle_train(args).items():
            ours.setdefault(k, []).append(v)
        print("round %d/%d: pytorch training steps" % (r + 1, args.rounds), file=sys.stderr, flush=True)
        t, meta = run_torch_train(args)
        for k, v in t.items():
            theirs.setdefault(k, []).append(v)
    lines = ["Training steps, batch 32 x 100 frames, F = 40, C = 32, Adam. PyTorch %s (%s), ossicle Release. "
             "Medians over %d alternating rounds." % (meta["torch"], meta["blas"].get("openblas_corename", "?"),
                                                       args.rounds), "",
             "| H | L | loss | threads | ossicle frames/s | PyTorch frames/s | ratio | ossicle 1->2 threads | PyTorch 1->2 threads |",
             "|---|---|---|---|---|---|---|---|---|"]
    table = []
    med = lambda d, k: statistics.median(d[k]) if k in d else float("nan")
    for key in sorted(set(ours) & set(theirs)):
        H, L, loss, th = key
        o, t = med(ours, key), med(theirs, key)
        one = (H, L, loss, 1)
        so = o / med(ours, one) if th != 1 else 1.0
        st = t / med(theirs, one) if th != 1 else 1.0
        table.append({"H": H, "L": L, "loss": loss, "threads": th, "ossicle_frames_per_s": o,
                      "torch_frames_per_s": t, "ratio": o / t, "ossicle_speedup": so, "torch_speedup": st})
        lines.append("| %d | %d | %s | %d | %.0f | %.0f | %.2fx | %.2fx | %.2fx |" % (H, L, loss, th, o, t, o / t, so, st))
    text = "\n".join(lines)
    print(text)
    if args.md:
        open(args.md, "w").write(text + "\n")
    if args.json:
        json.dump({"rows": table, "torch_meta": meta}, open(args.json, "w"), indent=1)


def flops_per_frame(F, H, L, C):
    macs = sum(2 * 4 * H * ((F if l == 0 else 2 * H) + H) for l in range(L)) + 2 * H * C
    return 2.0 * macs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", default="64,128,256")
    ap.add_argument("--layers", default="2,3")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--quick", action="store_true", help="H=128, L=2, 1 round, short timings")
    ap.add_argument("--train", action="store_true", help="compare training steps (BM_TrainStep) instead of inference")
    ap.add_argument("--md")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.quick:
        args.hidden, args.layers, args.rounds, args.min_time = "128", "2", 1, 0.2
    for p in (BENCH, TORCH):
        if not os.path.exists(p):
            sys.exit("missing %s (build Release first; ../shared must be beside the project)" % p)
    if args.train:
        return main_train(args)
    ours, theirs, peaks, meta = {}, {}, [], None
    for r in range(args.rounds):
        print("round %d/%d: ossicle" % (r + 1, args.rounds), file=sys.stderr, flush=True)
        o, peak = run_ossicle(args)
        peaks.append(peak)
        print("round %d/%d: pytorch" % (r + 1, args.rounds), file=sys.stderr, flush=True)
        t, meta = run_torch(args)
        for k, v in o.items():
            ours.setdefault(k, []).append(v)
        for k, v in t.items():
            theirs.setdefault(k, []).append(v)
    peak = statistics.median(peaks)
    lines = ["PyTorch %s (%s), ossicle Release (-march=native). Core fp32 FMA peak measured: %.0f GFLOP/s. "
             "Medians over %d alternating rounds." % (meta["torch"], meta["blas"].get("openblas_corename", "?"),
                                                       peak, args.rounds), "",
             "| H | L | B | T | threads | ossicle frames/s | PyTorch frames/s | ratio | ossicle GFLOP/s | ossicle % of peak | PyTorch % of peak |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    table = []
    for key in sorted(set(ours) & set(theirs)):
        H, L, B, T, th = key
        o, t = statistics.median(ours[key]), statistics.median(theirs[key])
        fpf = flops_per_frame(40, H, L, 32)
        row = {"H": H, "L": L, "B": B, "T": T, "threads": th, "ossicle_frames_per_s": o, "torch_frames_per_s": t,
               "ratio": o / t, "ossicle_gflops": o * fpf / 1e9, "peak_gflops": peak}
        table.append(row)
        lines.append("| %d | %d | %d | %d | %d | %.0f | %.0f | %.2fx | %.1f | %.0f%% | %.0f%% |" % (
            H, L, B, T, th, o, t, o / t, o * fpf / 1e9, 100 * o * fpf / 1e9 / peak, 100 * t * fpf / 1e9 / peak))
    text = "\n".join(lines)
    print(text)
    if args.md:
        open(args.md, "w").write(text + "\n")
    if args.json:
        json.dump({"peak_gflops": peak, "rows": table, "torch_meta": meta}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
