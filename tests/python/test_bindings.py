"""The `ossicle` Python module against the `ossicle` command on test-audio/: features, model outputs,
keyword hits and transcripts must be identical; ossicle's errors must arrive as its exception classes."""
import tempfile
import unittest
from pathlib import Path

import numpy as np

import ossicle
from ossicle_test_support import (AUDIO_DIR, CLIPS, CTC_LABELS, GRAPHS_DIR, KWS_LABELS, SOURCE_DIR,
                                  TORCH_MODEL, import_models, json_lines, record_time, run_ossicle)


class BindingsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ossicle-python-")
        cls.dir = Path(cls.tmp.name)
        cls.kws_path, cls.ctc_path = import_models(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    # ---- features

    def test_features_equal_the_command_for_every_preset_file(self):
        configs = sorted((SOURCE_DIR / "configs" / "features").glob("*.yaml"))
        self.assertGreater(len(configs), 0)
        for config_path in configs:
            config = config_path.name
            rate = ossicle.feature_config(str(config_path))["frame"]["sample_rate_hz"]
            for clip in CLIPS:
                with self.subTest(config=config, clip=clip):
                    out = self.dir / f"{clip}.{config}.npy"
                    run_ossicle("features", AUDIO_DIR / clip, "--config", config_path, "--out", out)
                    expected = np.load(out)
                    samples = ossicle.read_audio(str(AUDIO_DIR / clip), sample_rate_hz=rate)
                    got = ossicle.compute_features(samples, str(config_path))
                    self.assertEqual(got.dtype, np.float32)
                    self.assertEqual(got.shape, expected.shape)
                    np.testing.assert_array_equal(got, expected)

    def test_feature_config_defaults_dicts_and_shapes(self):
        defaults = ossicle.feature_config()
        self.assertEqual(defaults["type"], "fbank")
        self.assertEqual(defaults["mel"]["num_mel_bins"], 40)
        self.assertEqual(defaults["frame"]["sample_rate_hz"], 16000)
        # One second of a 440 Hz tone: 98 frames of 25 ms every 10 ms (snip_edges), 23 bins as asked.
        tone = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32) * 0.5
        f = ossicle.compute_features(tone, {"mel": {"num_mel_bins": 23}})
        self.assertEqual(f.shape, (98, 23))
        # The bin nearest 440 Hz holds the most energy in every frame.
        self.assertTrue(np.all(np.argmax(f, axis=1) == np.argmax(f[0])))
        # float64 input is converted; a list too.
        np.testing.assert_array_equal(ossicle.compute_features(tone.astype(np.float64)),
                                      ossicle.compute_features(tone))

    # ---- models

    def test_model_metadata(self):
        model = ossicle.Model(str(self.kws_path))
        self.assertEqual(model.labels, KWS_LABELS)
        arch = model.architecture
        self.assertEqual((arch["cell"], arch["input_size"], arch["hidden_size"], arch["num_layers"],
                          arch["bidirectional"], arch["num_classes"]), ("lstm", 40, 32, 2, True, 12))
        self.assertEqual(model.features, ossicle.feature_config())
        self.assertAlmostEqual(model.frame_shift_s, 0.010)
        self.assertGreater(model.num_parameters, 0)
        # import_torch in Python gives the same model as the command.
        same = ossicle.Model.import_torch(str(TORCH_MODEL), KWS_LABELS)
        x = ossicle.read_audio(str(AUDIO_DIR / "yes_en-us_16k.wav"))
        np.testing.assert_array_equal(same.posteriors(x), model.posteriors(x))

    def test_posteriors_equal_ossicle_model_run(self):
        model = ossicle.Model(str(self.kws_path))
        for clip in CLIPS[:4]:
            with self.subTest(clip=clip):
                out = self.dir / f"{clip}.logp.npy"
                run_ossicle("model", "run", self.kws_path, "--audio", AUDIO_DIR / clip, "--mode", "offline",
                            "--out", out)
                expected = np.load(out)
                x = ossicle.read_audio(str(AUDIO_DIR / clip))
                lp = model.posteriors(x)
                self.assertEqual(lp.shape, expected.shape)
                np.testing.assert_array_equal(lp, expected)
                # forward() of the model's own features is the same thing; rows are log-distributions.
                np.testing.assert_array_equal(model.forward(ossicle.compute_features(x, model.features)), lp)
                np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=1e-5)

    # ---- keyword spotting

    def test_spot_equals_ossicle_spot(self):
        files = [str(AUDIO_DIR / c) for c in CLIPS[:4]]
        out = run_ossicle("spot", *files, "--model", self.kws_path, "--keywords", "yes,no", "--threshold", "0.05")
        records = json_lines(out)
        command_hits = {f: [r for r in records if r["type"] == "hit" and r["file"] == f] for f in files}
        self.assertGreater(sum(len(h) for h in command_hits.values()), 0)
        model = ossicle.Model(str(self.kws_path))
        graph = ossicle.Graph(str(GRAPHS_DIR / "batch-keywords.yaml"),
                              [f"model.path={self.kws_path}", "keywords.keywords=yes,no", "keywords.threshold=0.05"])
        for f in files:
            with self.subTest(file=f):
                expected = command_hits[f]
                # The array API: samples -> hits.
                hits = ossicle.spot(model, ossicle.read_audio(f), keywords="yes,no", threshold=0.05)
                self.assertEqual(len(hits), len(expected))
                for h, e in zip(hits, expected):
                    self.assertEqual(h["keyword"], e["keyword"])
                    self.assertEqual(h["score"], e["score"])
                    self.assertEqual(record_time(h["start_s"]), e["start_s"])
                    self.assertEqual(record_time(h["end_s"]), e["end_s"])
                # The file API: the same graph the command runs gives the very same records.
                got = graph.run_file(f)
                self.assertEqual([r for r in got if r["type"] == "hit"], expected)
                summary = [r for r in records if r["type"] == "summary" and r["file"] == f]
                self.assertEqual(got[-1], summary[0])

    def test_decode_keywords_on_arrays(self):
        # Posteriors made by hand: "yes" high over frames 20..59 of 100, silence elsewhere.
        lp = np.full((100, 3), np.log(0.01), dtype=np.float32)
        lp[:, 0] = np.log(0.98)
        lp[20:60, 1] = np.log(0.98)
        lp[20:60, 0] = np.log(0.01)
        hits = ossicle.decode_keywords(lp, ["_silence_", "yes", "no"], 0.010, threshold=0.5)
        self.assertEqual(len(hits), 1)
        self.assertEqual(hits[0]["keyword"], "yes")
        self.assertAlmostEqual(hits[0]["start_s"], 0.20, delta=0.011)
        self.assertAlmostEqual(hits[0]["end_s"], 0.60, delta=0.011)
        self.assertAlmostEqual(hits[0]["score"], 0.98, places=5)
        self.assertEqual(ossicle.decode_keywords(lp, ["_silence_", "yes", "no"], 0.010, threshold=0.99), [])

    # ---- transcription

    def test_transcribe_equals_the_command(self):
        # A graph without the voice activity detector, so the whole file is one utterance, as for arrays.
        graph_path = self.dir / "ctc.yaml"
        graph_path.write_text(
            "description: test\nstages:\n"
            "  - {name: audio, type: source.file, options: {sample_rate_hz: 16000}}\n"
            "  - {name: features, type: features.fbank, input: audio, options: {match_model: model}}\n"
            "  - {name: model, type: model.rnn, input: features,\n"
            f"     options: {{path: '{self.ctc_path}', mode: offline}}}}\n"
            "  - {name: transcript, type: decoder.ctc_beam, input: model, options: {beam_width: 8}}\n"
            "  - {name: out, type: sink.jsonl, input: transcript}\n")
        files = [str(AUDIO_DIR / c) for c in CLIPS[:4]]
        records = json_lines(run_ossicle("run", graph_path, *files))
        model = ossicle.Model(str(self.ctc_path))
        graph = ossicle.Graph(str(graph_path))
        for f in files:
            with self.subTest(file=f):
                expected = [r for r in records if r["type"] == "transcript" and r["file"] == f]
                self.assertEqual(len(expected), 1)
                e = expected[0]
                t = ossicle.transcribe(model, ossicle.read_audio(f), beam_width=8)
                self.assertEqual(t["text"], e["text"])
                self.assertEqual(t["confidence"], e["confidence"])
                self.assertEqual([x["token"] for x in t["tokens"]], [x["token"] for x in e["tokens"]])
                self.assertEqual([record_time(x["start_s"]) for x in t["tokens"]], [x["start_s"] for x in e["tokens"]])
                self.assertEqual([x["token"] for x in t["words"]], [x["token"] for x in e["words"]])
                self.assertEqual([r for r in graph.run_file(f) if r["type"] == "transcript"], expected)
        # `ossicle transcribe` (the shipped graph, speech segments) and Graph.run_file agree too.
        shipped = ossicle.Graph(str(GRAPHS_DIR / "batch-transcribe.yaml"), [f"model.path={self.ctc_path}"])
        command = json_lines(run_ossicle("transcribe", *files, "--model", self.ctc_path))
        for f in files:
            self.assertEqual([r for r in shipped.run_file(f) if r["type"] == "transcript"],
                             [r for r in command if r["type"] == "transcript" and r["file"] == f])

    def test_decode_ctc_greedy_on_arrays(self):
        labels = ["<blank>", "a", "b", "|"]
        path = [1, 1, 0, 1, 3, 2, 2, 0]  # a a _ a | b b _  ->  "aa b"
        lp = np.full((len(path), 4), np.log(0.02), dtype=np.float32)
        for t, k in enumerate(path):
            lp[t, k] = np.log(0.94)
        t = ossicle.decode_ctc(lp, labels, 0.02)
        self.assertEqual(t["text"], "aa b")
        self.assertEqual([x["token"] for x in t["words"]], ["aa", "b"])
        self.assertAlmostEqual(t["tokens"][0]["start_s"], 0.0)
        self.assertAlmostEqual(t["tokens"][0]["end_s"], 0.04)
        self.assertAlmostEqual(t["confidence"], 0.94, places=5)
        self.assertEqual(ossicle.decode_ctc(lp, labels, 0.02, beam_width=4)["text"], "aa b")

    # ---- errors

    def test_errors_are_ossicle_exceptions(self):
        for cls in [ossicle.ConfigError, ossicle.AudioError, ossicle.ModelFormatError, ossicle.DeviceError,
                    ossicle.IoError]:
            self.assertTrue(issubclass(cls, ossicle.Error))
        self.assertTrue(issubclass(ossicle.Error, RuntimeError))
        tone = np.zeros(16000, dtype=np.float32)
        with self.assertRaisesRegex(ossicle.ConfigError, "num_mel_bins"):
            ossicle.compute_features(tone, {"mel": {"num_mel_bins": 0}})
        with self.assertRaisesRegex(ossicle.ConfigError, "unknown key 'mell'"):
            ossicle.compute_features(tone, {"mell": {}})
        with self.assertRaisesRegex(ossicle.ConfigError, "threshold"):
            ossicle.decode_keywords(np.zeros((3, 2), np.float32), ["_silence_", "yes"], 0.01, threshold=0)
        with self.assertRaisesRegex(ossicle.ConfigError, "maybe"):
            ossicle.spot(ossicle.Model(str(self.kws_path)), tone, keywords="maybe")
        not_audio = self.dir / "not-audio.wav"
        not_audio.write_text("this is text\n")
        with self.assertRaisesRegex(ossicle.AudioError, "not-audio.wav"):
            ossicle.read_audio(str(not_audio))
        with self.assertRaisesRegex(ossicle.AudioError, "missing.wav"):
            ossicle.read_audio(str(self.dir / "missing.wav"))
        with self.assertRaises(ossicle.ModelFormatError):
            ossicle.Model(str(not_audio))
        bad_graph = self.dir / "bad.yaml"
        bad_graph.write_text("description: x\nstages:\n  - {name: audio, type: source.fiel}\n")
        with self.assertRaisesRegex(ossicle.ConfigError, "bad.yaml:3"):
            ossicle.Graph(str(bad_graph))
        with self.assertRaisesRegex(ValueError, "1-D"):
            ossicle.compute_features(np.zeros((2, 100), np.float32))


if __name__ == "__main__":
    unittest.main()
