"""scripts/dask/spot_manifest.py on a dask.distributed LocalCluster with 2 worker processes: the results
equal the single-process run, file for file, in manifest order (bad files included), and the script's
command line writes them."""
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from ossicle_test_support import AUDIO_DIR, SOURCE_DIR, import_models

sys.path.insert(0, str(SOURCE_DIR / "scripts" / "dask"))
import spot_manifest  # noqa: E402

try:
    from dask.distributed import Client, LocalCluster
except ImportError:  # python3-distributed (scripts/install-deps)
    Client = None


@unittest.skipIf(Client is None, "dask.distributed is not installed (apt-get install python3-distributed)")
class DaskTest(unittest.TestCase):
    def test_local_cluster_equals_single_process(self):
        with tempfile.TemporaryDirectory(prefix="ossicle-dask-") as tmp:
            tmp = Path(tmp)
            kws, _ = import_models(tmp)
            # test-audio's manifest plus a file that is not audio (an error record, not a failed run).
            lines = (AUDIO_DIR / "manifest.tsv").read_text().splitlines()
            (tmp / "not-audio.wav").write_text("text\n")
            manifest = tmp / "manifest.tsv"
            manifest.write_text("\n".join([lines[0]] + [f"{AUDIO_DIR}/{l}" for l in lines[1:]] +
                                          ["not-audio.wav\tx\tx\t16000\t1\tx\t0\t0\t0"]) + "\n")
            paths = spot_manifest.read_manifest(manifest)
            self.assertEqual(len(paths), len(lines))
            options = {"keywords": "yes,no", "threshold": 0.05}
            single = spot_manifest.spot_files(paths, str(kws), None, **options)
            # Workers import spot_manifest (and ossicle) through PYTHONPATH, like any Dask deployment.
            os.environ["PYTHONPATH"] = os.pathsep.join(
                [str(SOURCE_DIR / "scripts" / "dask")] + os.environ.get("PYTHONPATH", "").split(os.pathsep))
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                self.assertEqual(len(client.scheduler_info()["workers"]), 2)
                distributed = spot_manifest.spot_files(paths, str(kws), client, **options)
            self.assertEqual(distributed, single)
            self.assertEqual([r["file"] for r in single], paths)
            self.assertEqual(single[-1]["error_type"], "AudioError")
            self.assertGreater(sum(len(r.get("hits", [])) for r in single), 0)

            # The command line (--workers 0: this process) writes the same results as JSON lines.
            out = tmp / "out.jsonl"
            r = subprocess.run([sys.executable, str(SOURCE_DIR / "scripts" / "dask" / "spot_manifest.py"),
                                str(manifest), "--model", str(kws), "--keywords", "yes,no", "--threshold", "0.05",
                                "--workers", "0", "--out", str(out)], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r.stderr)  # 1: a file had an error record
            self.assertEqual([json.loads(line) for line in out.read_text().splitlines()], distributed)


if __name__ == "__main__":
    unittest.main()
