"""What the Python tests share: where things are, running the `ossicle` command, and the two test models.

ctest sets PYTHONPATH (the built module), OSSICLE_BINARY (the built command) and OSSICLE_SOURCE_DIR
(tests/CMakeLists.txt). By hand:
    PYTHONPATH=build/release/python OSSICLE_BINARY=build/release/apps/ossicle \
        /usr/bin/python3 -m unittest discover -s tests/python -v
"""
import json
import math
import os
import subprocess
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("OSSICLE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BINARY = os.environ.get("OSSICLE_BINARY", "ossicle")
AUDIO_DIR = SOURCE_DIR / "test-audio"
GRAPHS_DIR = SOURCE_DIR / "configs" / "graphs"
# A PyTorch golden (tests/data/models/README.md): bidirectional 2-layer LSTM, 40 inputs, 12 classes. Its
# weights are random, so scores and transcripts are arbitrary, but fixed.
TORCH_MODEL = SOURCE_DIR / "tests" / "data" / "models" / "lstm_bi_2layer.safetensors"
KWS_LABELS = ["_silence_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_"]
CTC_LABELS = ["<blank>", "e", "s", "y", "n", "o", "t", "p", "|", "a", "l", "g"]
# Mono 16 kHz clips of test-audio/ with words in them (manifest.tsv), and one 8 kHz and one stereo file.
CLIPS = ["yes_en-us_16k.wav", "no_en-gb-x-rp_16k.wav", "stop_en_16k.wav", "go-left_en-us_16k.wav",
         "stop_en_8k.wav", "three-one-four_en-gb_44k1_stereo.wav"]


def run_ossicle(*args, cwd=None):
    """Runs the command; returns its standard output. Fails with its standard error when it fails."""
    r = subprocess.run([BINARY, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"ossicle {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
    return r.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def import_models(out_dir):
    """(keyword model path, CTC model path) made by `ossicle model import-torch` from the PyTorch golden."""
    kws = Path(out_dir) / "kws.safetensors"
    ctc = Path(out_dir) / "ctc.safetensors"
    run_ossicle("model", "import-torch", TORCH_MODEL, "--out", kws, "--labels", ",".join(KWS_LABELS))
    run_ossicle("model", "import-torch", TORCH_MODEL, "--out", ctc, "--labels", ",".join(CTC_LABELS))
    return kws, ctc


def record_time(seconds):
    """A time as the command's records write it: rounded to 0.1 ms (pipeline/stages/builtin-stages.cc)."""
    return max(0.0, math.floor(seconds * 1e4 + 0.5) / 1e4)
