#!/usr/bin/python3
"""Side-by-side feature speed: ossicle vs the numpy reference, whole processes and in-process, one run.

Needs Debian's Python with numpy and scipy (scripts/install-deps --bench), a Release build
(cmake --preset release && cmake --build --preset release), and ../shared/bench/numpy_logmel.py.

  /usr/bin/python3 bench/compare-features.py [--minutes 10] [--repeats 5] [--cpu 1]

What it does, all pinned to one core (taskset --cpu-list CPU) so both sides get the same single core:
 1. writes MINUTES of 16 kHz int16 audio (the numpy script's --speed signal: two sines plus noise) to a
    temporary WAV;
 2. whole processes, alternating ossicle / numpy, REPEATS times each, wall time of
      ossicle features long.wav --preset kaldi-fbank --num-mel-bins 40 --out ours.npy
      /usr/bin/python3 numpy_logmel.py long.wav --style kaldi --n-mels 40 -o ref.npy
    and checks the two outputs agree (max abs diff);
 3. in-process: `numpy_logmel.py --speed` (its own median timing) and ossicle's Google Benchmark
    (build/release/bench/features-benchmark);
and prints medians, the ossicle/numpy ratio and ossicle's real-time factor. Medians of alternating runs
make the ratio robust to the shared machine's noise.
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

import numpy as np
import scipy.io.wavfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OSSICLE = os.path.join(ROOT, "build", "release", "apps", "ossicle")
GBENCH = os.path.join(ROOT, "build", "release", "bench", "features-benchmark")
NUMPY_REF = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench", "numpy_logmel.py"))


def signal(seconds, sr=16000, seed=0):
    # Same construction as numpy_logmel.py's synth(): 440 Hz and 1234.5 Hz sines plus Gaussian noise.
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 3000 * np.sin(2 * np.pi * 440 * t) + 1500 * np.sin(2 * np.pi * 1234.5 * t) + rng.normal(0, 500, t.shape)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1, help="core to pin both sides to")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    for p in (OSSICLE, NUMPY_REF):
        if not os.path.exists(p):
            sys.exit("missing %s (build Release first; ../shared must be beside the project)" % p)
    pin = ["taskset", "--cpu-list", str(args.cpu)] if shutil.which("taskset") else []
    seconds = args.minutes * 60.0
    report = {"audio_seconds": seconds, "repeats": args.repeats, "cpu": args.cpu}

    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "long.wav")
        scipy.io.wavfile.write(wav, 16000, signal(seconds))
        ours_npy, ref_npy = os.path.join(tmp, "ours.npy"), os.path.join(tmp, "ref.npy")
        ours_cmd = pin + [OSSICLE, "features", wav, "--preset", "kaldi-fbank", "--num-mel-bins", "40", "--out", ours_npy]
        ref_cmd = pin + ["/usr/bin/python3", NUMPY_REF, wav, "--style", "kaldi", "--n-mels", "40", "-o", ref_npy]
        startup_cmd = pin + ["/usr/bin/python3", "-c", "import numpy, scipy.io.wavfile"]

        timed(ours_cmd), timed(ref_cmd)  # warm the page cache
        ours, ref, startup = [], [], []
        for _ in range(args.repeats):
            ours.append(timed(ours_cmd))
            ref.append(timed(ref_cmd))
            startup.append(timed(startup_cmd))
        a, b = np.load(ours_npy), np.load(ref_npy)
        report["max_abs_diff"] = float(np.abs(a - b).max()) if a.shape == b.shape else None
        report["frames"] = list(a.shape)
        mo, mr, ms = statistics.median(ours), statistics.median(ref), statistics.median(startup)
        report["whole_process"] = {
            "ossicle_median_s": mo, "numpy_median_s": mr, "python_numpy_import_median_s": ms,
            "ossicle_runs_s": ours, "numpy_runs_s": ref,
            "speedup_vs_numpy": mr / mo, "ossicle_x_realtime": seconds / mo, "numpy_x_realtime": seconds / mr}

    print("== whole processes, %.0f s of 16 kHz audio, 40-bin Kaldi fbank, one core, median of %d ==" %
          (seconds, args.repeats))
    wp = report["whole_process"]
    print("ossicle features      %8.3f s  %8.0fx real time" % (wp["ossicle_median_s"], wp["ossicle_x_realtime"]))
    print("numpy_logmel.py       %8.3f s  %8.0fx real time  (python+numpy+scipy import alone: %.3f s)" %
          (wp["numpy_median_s"], wp["numpy_x_realtime"], wp["python_numpy_import_median_s"]))
    print("ratio numpy/ossicle   %8.2fx" % wp["speedup_vs_numpy"])
    print("outputs: shape %s, max abs diff %s" % (report["frames"], report["max_abs_diff"]))

    print("\n== in-process: numpy_logmel.py --speed (its median per call, 60 s synthetic audio) ==", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        subprocess.run(pin + ["/usr/bin/python3", NUMPY_REF, "--speed", "--seconds", "60", "--speed-mels", "40,80",
                              "--json", j.name], check=True)
        report["numpy_speed"] = json.load(open(j.name))["speed"]["results"]
    if os.path.exists(GBENCH):
        print("\n== in-process: ossicle features-benchmark (60 s synthetic audio, CPU time) ==", flush=True)
        out = subprocess.run(pin + [GBENCH, "--benchmark_repetitions=%d" % args.repeats,
                                    "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                             check=True, capture_output=True, text=True).stdout
        rows = [b for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"]
        report["ossicle_benchmark"] = rows
        for b in rows:
            extra = ("%8.0fx real time" % b["audio_s_per_cpu_s"]) if "audio_s_per_cpu_s" in b else (
                "%6.2f us per FFT" % (b["cpu_time"] / 1000.0))
            print("%-28s %9.3f %s cpu  %s" % (b["run_name"], b["cpu_time"], b["time_unit"], extra))
        numpy40 = next(r for r in report["numpy_speed"] if r["impl"] == "numpy kaldi fbank f64 n_mels=40")
        ours40 = next(b for b in rows if b["run_name"] == "BM_KaldiFbank40")
        fft = next((b for b in rows if b["run_name"] == "BM_RealFft512"), None)
        print("\nin-process 40-bin Kaldi fbank: ossicle %.0fx real time, numpy %.0fx, ratio %.2fx" % (
            ours40["audio_s_per_cpu_s"], numpy40["audio_s_per_s"], ours40["audio_s_per_cpu_s"] / numpy40["audio_s_per_s"]))
        if fft is not None:
            per_frame_us = 1e6 / (ours40["audio_s_per_cpu_s"] * 100.0)
            fft_us = fft["cpu_time"] / 1000.0
            print("FFT share of a frame: %.2f us of %.2f us (%.0f%%)" % (fft_us, per_frame_us, 100.0 * fft_us / per_frame_us))
            for name in ("BM_FftwEstimate512", "BM_FftwMeasure512"):
                f = next((b for b in rows if b["run_name"] == name), None)
                if f is not None:
                    projected = per_frame_us - fft_us + f["cpu_time"] / 1000.0
                    print("with %s (%.2f us per FFT) a frame would take %.2f us: %.0fx real time" % (
                        name, f["cpu_time"] / 1000.0, projected, 1e4 / projected))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
