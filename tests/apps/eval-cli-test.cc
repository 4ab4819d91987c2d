// `ossicle eval` end to end: the real binary on test-audio/ with tiny models whose output head is rigged so
// that the right answers can be worked out by hand (zero output weights and one large bias: every frame
// gives the same posteriors, whatever the audio).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/run-ossicle.h"
#include "support/bad-audio-files.h"
#include "models/acoustic-model.h"

namespace {

namespace fs = std::filesystem;
using Catch::Detail::Approx;
using Catch::Contains;
using Catch::StartsWith;
using ossicle::test::ReadTextFile;
using ossicle::test::RunOssicle;

std::string TestAudio(const std::string& name) { return std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + name; }

// A one-layer model whose frame (or clip) posteriors are softmax(bias): label `favoured` gets bias 5.
std::string RiggedModel(const fs::path& dir, const std::string& name, ossicle::HeadType head,
                        const std::vector<std::string>& labels, size_t favoured) {
  ossicle::ModelArchitecture arch;
  arch.input_size = 40;
  arch.hidden_size = 8;
  arch.num_layers = 1;
  arch.bidirectional = true;
  arch.num_classes = static_cast<int>(labels.size());
  arch.head = head;
  arch.attention_size = head == ossicle::HeadType::kAttention ? 4 : 0;
  auto model = ossicle::AcousticModel::Initialize(arch, ossicle::FeatureConfig::KaldiFbank(40), labels, 3);
  for (ossicle::ParameterView& p : model->MutableParameters()) {
    if (p.name == "out.weight") std::fill(p.values.begin(), p.values.end(), 0.0f);
    if (p.name == "out.bias") {
      std::fill(p.values.begin(), p.values.end(), 0.0f);
      p.values[favoured] = 5.0f;
    }
  }
  model->ParametersChanged();
  const std::string path = (dir / name).string();
  model->Save(path);
  return path;
}

// The tokens of a character CTC model: blank, space, a..z.
std::vector<std::string> LetterTokens() {
  std::vector<std::string> tokens{"<blank>", " "};
  for (char c = 'a'; c <= 'z'; ++c) tokens.emplace_back(1, c);
  return tokens;
}

// A rigged character CTC model with 'o' on every frame (p(o) = e^5 / (e^5 + 27) = 0.846, every other token
// 0.0057), written as dir/name with `decoder_json` as its decoder metadata (`ossicle model set-decoder`).
std::string RiggedOModel(const fs::path& dir, const std::string& name, const std::string& decoder_json) {
  const std::string rigged = RiggedModel(dir, "rigged-o.safetensors", ossicle::HeadType::kFrame, LetterTokens(), 16);
  const std::string path = (dir / name).string();
  const ossicle::test::RunResult r =
      ossicle::test::RunOssicle("model set-decoder '" + rigged + "' --out '" + path + "' --decoder '" + decoder_json + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return path;
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

nlohmann::json ReadJson(const fs::path& path) { return nlohmann::json::parse(ReadTextFile(path)); }

}  // namespace

TEST_CASE("eval: keyword model, confusion, error rows, false alarms and calibrated threshold", "[eval][cli][threads]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  const std::string model = RiggedModel(dir.path(), "kws.safetensors", ossicle::HeadType::kFrame,
                                        {"_silence_", "yes", "no", "stop"}, /*favoured=*/1);
  // Paths relative to the manifest's folder; one file is missing and must become an error row.
  fs::copy_file(TestAudio("yes_en-us_16k.wav"), dir.path() / "yes1.wav");
  fs::copy_file(TestAudio("yes_en-f3_16k.wav"), dir.path() / "yes2.wav");
  fs::copy_file(TestAudio("no_en-gb-x-rp_16k.wav"), dir.path() / "no.wav");
  fs::copy_file(TestAudio("stop_en_16k.flac"), dir.path() / "stop.flac");
  WriteText(dir.path() / "dev.tsv",
            "path\tlabel\tspeaker\n"
            "yes1.wav\tyes\ta\nyes2.wav\tyes\tb\nno.wav\tno\tc\nstop.flac\tstop\td\nmissing.wav\tno\te\n");
  WriteText(dir.path() / "neg.tsv", "path\ttranscript\n" + TestAudio("go-left_en-us_16k.wav") + "\tgo left\n" +
                                        TestAudio("seven-two_en-029_16k.wav") + "\tseven two\n");
  const fs::path out = dir.path() / "report";
  const ossicle::test::RunResult r =
      RunOssicle("eval --model '" + model + "' --manifest '" + (dir.path() / "dev.tsv").string() + "' --negatives '" +
                 (dir.path() / "neg.tsv").string() + "' --out '" + out.string() + "' --target-fa-per-hour 2000");
  REQUIRE(r.exit_code == 0);
  // Every frame: p(yes) = e^5 / (e^5 + 3), the others 1 / (e^5 + 3). Every clip is predicted "yes".
  const double p_yes = std::exp(5.0) / (std::exp(5.0) + 3.0);
  CHECK_THAT(r.out, Contains("accuracy 0.5000 (2 of 4)"));
  CHECK_THAT(r.err, Contains("missing.wav"));

  const nlohmann::json m = ReadJson(out / "metrics.json");
  CHECK(m["scoring"] == "frame_classes");
  CHECK(m["reference_column"] == "label");
  CHECK(m["clips"] == 5);
  CHECK(m["errors"] == 1);
  REQUIRE(m["error_rows"].size() == 1);
  CHECK(m["error_rows"][0]["line"] == 6);
  CHECK(m["accuracy"].get<double>() == Approx(0.5));
  // Per class: yes predicted 4 times, right twice; no and stop never predicted.
  for (const auto& c : m["per_class"]) {
    if (c["label"] == "yes") {
      CHECK(c["support"] == 2);
      CHECK(c["predicted"] == 4);
      CHECK(c["precision"].get<double>() == Approx(0.5));
      CHECK(c["recall"].get<double>() == Approx(1.0));
    }
    if (c["label"] == "no") {
      CHECK(c["precision"].is_null());
      CHECK(c["recall"].get<double>() == Approx(0.0));
    }
  }
  CHECK(m["confusion"]["labels"][0] == "yes");  // _silence_ is not a reference, so it is left out
  // Negatives: each of the 2 files is one "yes" event at p_yes (one run above the floor per file).
  CHECK(m["false_alarms_at_floor"] == 2);
  // Files are named as the manifests write them: relative paths as written, absolute paths whole.
  CHECK_THAT(ReadTextFile(out / "report.md"), Contains("| " + TestAudio("go-left_en-us_16k.wav") + " | yes |"));
  CHECK_THAT(ReadTextFile(out / "clips.tsv"), Contains("\nyes2.wav\t3\t"));
  const double hours = m["negative_hours"].get<double>();
  CHECK(hours * 3600 == Approx(1.122 + 1.230).margin(0.01));
  // 4 positives (yes, yes, no, stop); 1 FA/h over ~2.4 s allows no event: threshold just above p_yes, so
  // every positive is missed.
  CHECK(m["positives"] == 4);
  CHECK(m["frr_at_1_fa_per_hour"].get<double>() == Approx(1.0));
  CHECK(m["threshold_at_1_fa_per_hour"].get<double>() == Approx(p_yes).epsilon(1e-4));
  // 2000 FA/h x ~0.00065 h allows 1 event: still just above p_yes (both events share the score).
  CHECK(m["target_fa_per_hour"].get<double>() == Approx(2000));
  CHECK(m["calibrated_threshold"].get<double>() == Approx(p_yes).epsilon(1e-4));
  CHECK(m["det"].size() >= 2);
  CHECK(m["det_method"] == "counted");  // a frame classifier's hits are counted by the decoder at each threshold

  // The per-clip table holds every row, the failed one with its error.
  const std::string clips = ReadTextFile(out / "clips.tsv");
  CHECK_THAT(clips, Contains("no.wav\t4\tno\tyes\t"));
  CHECK_THAT(clips, Contains("missing.wav\t6\tno\t"));
  const std::string report = ReadTextFile(out / "report.md");
  CHECK_THAT(report, Contains("**Accuracy: 50.00%** (2 of 4)"));
  CHECK_THAT(report, Contains("## Errors"));
  CHECK_THAT(report, Contains("missing.wav"));
  CHECK_THAT(report, Contains("Calibrated threshold for 2000 false alarms per hour"));

  // The same numbers with 2 jobs.
  const fs::path out2 = dir.path() / "report2";
  REQUIRE(RunOssicle("eval --model '" + model + "' --manifest '" + (dir.path() / "dev.tsv").string() +
                     "' --out '" + out2.string() + "' --jobs 2")
              .exit_code == 0);
  const nlohmann::json m2 = ReadJson(out2 / "metrics.json");
  CHECK(m2["per_class"] == m["per_class"]);
  CHECK(m2["confusion"] == m["confusion"]);
  CHECK_FALSE(m2.contains("frr_at_1_fa_per_hour"));  // no negatives, no false-alarm figures

  // Two negative manifests are one set: files and hours add up, each path is relative to its own manifest.
  fs::create_directories(dir.path() / "more");
  fs::copy_file(TestAudio("stop_en_8k.wav"), dir.path() / "more" / "other.wav");
  WriteText(dir.path() / "more" / "neg2.tsv", "path\nother.wav\n");
  const fs::path out3 = dir.path() / "report3";
  const ossicle::test::RunResult r3 =
      RunOssicle("eval --model '" + model + "' --manifest '" + (dir.path() / "dev.tsv").string() + "' --negatives '" +
                 (dir.path() / "neg.tsv").string() + "' '" + (dir.path() / "more" / "neg2.tsv").string() +
                 "' --out '" + out3.string() + "'");
  REQUIRE(r3.exit_code == 0);
  const nlohmann::json m3 = ReadJson(out3 / "metrics.json");
  CHECK(m3["negative_files"] == 3);
  REQUIRE(m3["negatives"].size() == 2);
  CHECK(m3["negatives"][1] == (dir.path() / "more" / "neg2.tsv").string());
  CHECK(m3["false_alarms_at_floor"] == 3);  // one "yes" event per file, as above
  CHECK(m3["negative_hours"].get<double>() * 3600 == Approx(1.122 + 1.230 + 1.090).margin(0.01));
  CHECK_THAT(ReadTextFile(out3 / "report.md"), Contains("| other.wav | yes |"));
  // The same manifest twice would count its audio twice: refused, naming the repeat.
  const ossicle::test::RunResult r4 =
      RunOssicle("eval --model '" + model + "' --manifest '" + (dir.path() / "dev.tsv").string() + "' --negatives '" +
                 (dir.path() / "neg.tsv").string() + "' '" + (dir.path() / "neg.tsv").string() + "' --out '" +
                 (dir.path() / "report4").string() + "'");
  CHECK(r4.exit_code != 0);
  CHECK_THAT(r4.err, Contains("negatives[1]") && Contains("repeats"));
}

TEST_CASE("eval: clip model picks the column holding its labels, plots or a reason", "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  const std::string model = RiggedModel(dir.path(), "clip.safetensors", ossicle::HeadType::kAttention,
                                        {"yes", "no", "stop"}, /*favoured=*/2);
  // 'label' holds numbers, 'word' the model's labels: auto-detection must pick 'word'.
  WriteText(dir.path() / "dev.tsv", "path\tlabel\tword\n" + TestAudio("stop_en_16k.wav") + "\t3\tstop\n" +
                                        TestAudio("stop_en_8k.wav") + "\t3\tstop\n" + TestAudio("yes_en-us_16k.wav") +
                                        "\t1\tyes\n");
  const fs::path out = dir.path() / "r";
  const ossicle::test::RunResult r = RunOssicle("eval --model '" + model + "' --manifest '" +
                                                (dir.path() / "dev.tsv").string() + "' --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  const nlohmann::json m = ReadJson(out / "metrics.json");
  CHECK(m["scoring"] == "clip");
  CHECK(m["reference_column"] == "word");
  CHECK(m["accuracy"].get<double>() == Approx(2.0 / 3));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    CHECK(fs::file_size(out / "confusion.png") > 1000);
    CHECK(m["plots_skipped"].is_null());
  } else {
    WARN("gnuplot not installed: the confusion plot is not checked");
  }

  // Without the plotting tool: the same report, plots skipped with the reason.
  const fs::path out2 = dir.path() / "r2";
  ::setenv("OSSICLE_GNUPLOT", "/nonexistent/gnuplot", 1);
  const ossicle::test::RunResult r2 = RunOssicle("eval --model '" + model + "' --manifest '" +
                                                 (dir.path() / "dev.tsv").string() + "' --out '" + out2.string() + "'");
  ::unsetenv("OSSICLE_GNUPLOT");
  REQUIRE(r2.exit_code == 0);
  CHECK_THAT(r2.err, Contains("plots skipped"));
  CHECK_THAT(ReadTextFile(out2 / "report.md"),
             Contains("Plots skipped: OSSICLE_GNUPLOT=/nonexistent/gnuplot is not an executable file"));
  CHECK(ReadJson(out2 / "metrics.json")["accuracy"].get<double>() == Approx(2.0 / 3));
  CHECK(fs::exists(out2 / "confusion.gp"));  // the script is kept, to be run later

  // A column that does not exist: configuration error naming it and the header.
  const ossicle::test::RunResult bad = RunOssicle("eval --model '" + model + "' --manifest '" +
                                                  (dir.path() / "dev.tsv").string() + "' --out '" + out.string() +
                                                  "' --columns label=keyword");
  CHECK(bad.exit_code == 3);
  CHECK_THAT(bad.err, Contains("label=keyword: no such column; the header has path, label, word"));
}

TEST_CASE("eval: character CTC model gives WER and CER against transcripts", "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  // Blank everywhere: every transcript is empty, so every reference word and character is a deletion.
  const std::string model =
      RiggedModel(dir.path(), "ctc.safetensors", ossicle::HeadType::kFrame, LetterTokens(), 0);
  WriteText(dir.path() / "phrases.tsv", "path\ttext\n" + TestAudio("yes_en-us_16k.wav") + "\tyes\n" +
                                            TestAudio("go-left_en-us_16k.wav") + "\tgo left\n" +
                                            TestAudio("seven-two_en-029_16k.wav") + "\tSeven  two\n");
  const fs::path out = dir.path() / "r";
  const ossicle::test::RunResult r = RunOssicle("eval --model '" + model + "' --manifest '" +
                                                (dir.path() / "phrases.tsv").string() + "' --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("WER 1.0000  CER 1.0000  exact 0.0000"));
  const nlohmann::json m = ReadJson(out / "metrics.json");
  CHECK(m["scoring"] == "ctc_characters");
  CHECK(m["reference_kind"] == "transcript");
  CHECK(m["word_edits"]["reference_length"] == 5);   // yes | go left | seven two
  CHECK(m["word_edits"]["deletions"] == 5);
  CHECK(m["char_edits"]["reference_length"] == 19);  // 3 + 7 + 9 (spaces counted, runs collapsed)
  CHECK(m["wer"].get<double>() == Approx(1.0));
  CHECK(m["cer"].get<double>() == Approx(1.0));
  CHECK_FALSE(m.contains("per_class"));
}

TEST_CASE("eval: a word-token CTC model is scored on transcripts by its words", "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  const std::string m = "\xE2\x96\x81";  // U+2581: word tokens of a `word_tokens` experiment
  // "go" on every frame: every transcript is "go".
  const std::string model = RiggedModel(dir.path(), "words.safetensors", ossicle::HeadType::kFrame,
                                        {"<blank>", m + "yes", m + "go", m + "left"}, 2);
  WriteText(dir.path() / "phrases.tsv", "path\ttranscript\n" + TestAudio("yes_en-us_16k.wav") + "\tyes\n" +
                                            TestAudio("go-left_en-us_16k.wav") + "\tgo left\n" +
                                            TestAudio("seven-two_en-029_16k.wav") + "\tseven two\n");
  const fs::path out = dir.path() / "r";
  const ossicle::test::RunResult r = RunOssicle("eval --model '" + model + "' --manifest '" +
                                                (dir.path() / "phrases.tsv").string() + "' --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = ReadJson(out / "metrics.json");
  CHECK(j["reference_kind"] == "transcript");
  // yes -> go (1 substitution), go left -> go (1 deletion), seven two -> go (1 substitution, 1 deletion).
  CHECK(j["word_edits"]["reference_length"] == 5);
  CHECK(j["word_edits"]["substitutions"] == 2);
  CHECK(j["word_edits"]["deletions"] == 2);
  CHECK(j["wer"].get<double>() == Approx(0.8));
  CHECK_THAT(ReadTextFile(out / "clips.tsv"), Contains("\tgo left\tgo\t"));
}

TEST_CASE("eval: references the model has no label for count as _unknown_ when it has that filler", "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  // A "jarvis" spotter that rejects everything: p(jarvis) = 1 / (e^5 + 1) on every frame, below 0.5.
  const std::string spotter = RiggedModel(dir.path(), "jarvis.safetensors", ossicle::HeadType::kFrame,
                                          {"jarvis", "_unknown_"}, /*favoured=*/1);
  // A wake-word manifest: one jarvis, two clips of another keyword.
  WriteText(dir.path() / "wake.tsv", "path\tkeyword\n" + TestAudio("yes_en-us_16k.wav") + "\tjarvis\n" +
                                         TestAudio("no_en-gb-x-rp_16k.wav") + "\talexa\n" +
                                         TestAudio("stop_en_16k.wav") + "\talexa\n");
  const fs::path out = dir.path() / "r";
  const ossicle::test::RunResult r = RunOssicle("eval --model '" + spotter + "' --manifest '" +
                                                (dir.path() / "wake.tsv").string() + "' --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  // The two alexa clips are rightly rejected; the jarvis clip is missed.
  CHECK_THAT(r.out, Contains("accuracy 0.6667 (2 of 3)"));
  const nlohmann::json m = ReadJson(out / "metrics.json");
  CHECK(m["foreign_references"] == nlohmann::json({{"alexa", 2}}));
  CHECK(m["foreign_references_as"] == "_unknown_");
  CHECK(m["confusion"]["labels"] == nlohmann::json({"jarvis", "_unknown_"}));
  for (const auto& c : m["per_class"]) {
    if (c["label"] == "_unknown_") {
      CHECK(c["support"] == 2);
      CHECK(c["recall"].get<double>() == Approx(1.0));
    }
  }
  CHECK_FALSE(m.contains("positives"));  // no --negatives: no false-reject figures
  CHECK_THAT(ReadTextFile(out / "report.md"),
             Contains("references that are not model labels count as _unknown_ (the model is right to reject them): "
                      "alexa (2)"));
  CHECK_THAT(ReadTextFile(out / "clips.tsv"), Contains("\t3\t_unknown_\t_unknown_\t"));

  // Without an _unknown_ label such clips cannot be right: they stay, and the report says so.
  const std::string kws = RiggedModel(dir.path(), "kws.safetensors", ossicle::HeadType::kFrame,
                                      {"_silence_", "yes", "no"}, /*favoured=*/1);
  WriteText(dir.path() / "dev.tsv", "path\tlabel\n" + TestAudio("yes_en-us_16k.wav") + "\tyes\n" +
                                        TestAudio("stop_en_16k.wav") + "\tstop\n");
  const fs::path out2 = dir.path() / "r2";
  const ossicle::test::RunResult r2 = RunOssicle("eval --model '" + kws + "' --manifest '" +
                                                 (dir.path() / "dev.tsv").string() + "' --out '" + out2.string() + "'");
  REQUIRE(r2.exit_code == 0);
  CHECK_THAT(r2.out, Contains("accuracy 0.5000 (1 of 2)"));
  const nlohmann::json m2 = ReadJson(out2 / "metrics.json");
  CHECK(m2["foreign_references"] == nlohmann::json({{"stop", 1}}));
  CHECK(m2["foreign_references_as"].is_null());
  CHECK_THAT(ReadTextFile(out2 / "report.md"), Contains("they count as errors: stop (1)"));
}

TEST_CASE("eval: a CTC model with decoder.ctc_keywords metadata spots its keywords, other references count as (none)",
          "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  // 'o' on every frame: the one-token keyword "o" scores 0.846; "go" scores sqrt(p(g) p(o)) = 0.069.
  const std::string model = RiggedOModel(dir.path(), "kw.safetensors",
                                         R"({"type": "decoder.ctc_keywords", "keywords": "o, go", "threshold": 0.5})");
  // The `word` column holds the keywords (the `label` column none of them): it is the reference.
  WriteText(dir.path() / "words.tsv", "path\tlabel\tword\n" + TestAudio("yes_en-us_16k.wav") + "\tx\to\n" +
                                          TestAudio("go-left_en-us_16k.wav") + "\tx\tgo\n" +
                                          TestAudio("stop_en_16k.wav") + "\tx\tstop\n" +
                                          TestAudio("no_en-gb-x-rp_16k.wav") + "\tx\t_silence_\n");
  const fs::path out = dir.path() / "r";
  const std::string eval = "eval --model '" + model + "' --manifest '" + (dir.path() / "words.tsv").string() + "'";
  ossicle::test::RunResult r = RunOssicle(eval + " --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  // Every clip is predicted "o": right for the "o" clip only.
  CHECK_THAT(r.out, Contains("reference column 'word'") && Contains("accuracy 0.2500 (1 of 4)"));
  nlohmann::json m = ReadJson(out / "metrics.json");
  CHECK(m["reference_kind"] == "label");
  CHECK(m["threshold"].get<double>() == Approx(0.5));
  CHECK(m["foreign_references"] == nlohmann::json({{"_silence_", 1}, {"stop", 1}}));
  CHECK(m["foreign_references_as"] == "(none)");
  const std::string clips = ReadTextFile(out / "clips.tsv");
  CHECK_THAT(clips, Contains("\t2\to\to\t0.846") && Contains("\t3\tgo\to\t0.846") && Contains("\t4\t(none)\to\t0.846"));
  CHECK_THAT(ReadTextFile(out / "report.md"),
             Contains("references that are not keywords of the model's decoder metadata count as (none) (no hit is "
                      "the right answer): _silence_ (1), stop (1)"));
  // Above every score no keyword fires: the two clips that are not keywords are right, the two keywords missed.
  r = RunOssicle(eval + " --threshold 0.9 --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("accuracy 0.5000 (2 of 4)"));
  m = ReadJson(out / "metrics.json");
  CHECK(m["confusion"]["labels"] == nlohmann::json({"o", "go", "(none)"}));
  // A manifest without any of its keywords: an error naming the metadata's list and --columns.
  WriteText(dir.path() / "none.tsv", "path\tword\n" + TestAudio("stop_en_16k.wav") + "\tstop\n");
  r = RunOssicle("eval --model '" + model + "' --manifest '" + (dir.path() / "none.tsv").string() + "' --out '" +
                 out.string() + "'");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("no column holds the keywords of") && Contains("(o, go)") &&
                        Contains("--columns keyword=COLUMN"));
}

TEST_CASE("eval: damaged audio is scored and listed, or left out with --skip-damaged", "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  RiggedOModel(dir.path(), "kw.safetensors", R"({"type": "decoder.ctc_keywords", "keywords": "o", "threshold": 0.5})");
  // A FLAC file with a damaged frame, decoded as silence.
  ossicle::test::WriteDamagedFlac(dir.path(), "damaged.flac");
  WriteText(dir.path() / "m.tsv", "path\tword\ndamaged.flac\to\n" + TestAudio("yes_en-us_16k.wav") + "\to\n");
  WriteText(dir.path() / "neg.tsv", "path\ndamaged.flac\n" + TestAudio("no_en-gb-x-rp_16k.wav") + "\n");
  const std::string eval = "eval --model '" + (dir.path() / "kw.safetensors").string() + "' --manifest '" +
                           (dir.path() / "m.tsv").string() + "' --negatives '" + (dir.path() / "neg.tsv").string() + "'";
  const fs::path scored = dir.path() / "scored";
  ossicle::test::RunResult r = RunOssicle(eval + " --out '" + scored.string() + "'");
  REQUIRE(r.exit_code == 0);
  nlohmann::json m = ReadJson(scored / "metrics.json");
  CHECK(m["errors"] == 0);
  CHECK(m["negative_errors"] == 0);
  CHECK(m["skip_damaged"] == false);
  REQUIRE(m["audio_warnings"].size() == 2);  // the clip, then the negative file
  CHECK(m["audio_warnings"][0]["path"] == "damaged.flac");
  CHECK(m["audio_warnings"][0]["left_out"] == false);
  CHECK_THAT(m["audio_warnings"][0]["warning"].get<std::string>(), Contains("damaged.flac: damaged FLAC data"));
  CHECK(m["audio_warnings"][1]["negatives"] == true);
  CHECK_THAT(ReadTextFile(scored / "clips.tsv"), Contains("\twarning\n") && Contains("damaged FLAC data"));
  const std::string report = ReadTextFile(scored / "report.md");
  CHECK_THAT(report, Contains("2 files were read with a warning") && Contains("## Audio warnings") &&
                         Contains("damaged.flac (negatives)"));
  // --skip-damaged: error rows, left out of every figure (the clean clip and negative file remain).
  const fs::path skipped = dir.path() / "skipped";
  r = RunOssicle(eval + " --skip-damaged --out '" + skipped.string() + "'");
  REQUIRE(r.exit_code == 0);
  m = ReadJson(skipped / "metrics.json");
  CHECK(m["errors"] == 1);
  CHECK(m["negative_errors"] == 1);
  CHECK(m["audio_warnings"][0]["left_out"] == true);
  CHECK_THAT(m["error_rows"][0]["error"].get<std::string>(), StartsWith("left out (--skip-damaged): "));
  CHECK_THAT(r.out, Contains("1 of 1"));
}

TEST_CASE("eval: a model with a list of decoders spots with its keyword entry and transcribes with its beam entry",
          "[eval][cli]") {
  ossicle::test::ScopedTempDir dir("ossicle-eval");
  // 'o' on every frame: greedy decoding reads "o"; a beam whose only word is "go" cannot.
  const std::string model = RiggedOModel(dir.path(), "both.safetensors",
                                         R"([{"type": "decoder.ctc_keywords", "keywords": "o, go", "threshold": 0.5},)"
                                         R"( {"type": "decoder.ctc_beam", "words": ["go"]}])");
  WriteText(dir.path() / "words.tsv", "path\tword\n" + TestAudio("yes_en-us_16k.wav") + "\to\n" +
                                          TestAudio("go-left_en-us_16k.wav") + "\tgo\n");
  const std::string eval = "eval --model '" + model + "' --manifest '" + (dir.path() / "words.tsv").string() + "'";
  // Keyword mode (auto: the column holds the keyword entry's words): as with that entry alone.
  const fs::path kw = dir.path() / "kw";
  ossicle::test::RunResult r = RunOssicle(eval + " --out '" + kw.string() + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("accuracy 0.5000 (1 of 2)"));
  nlohmann::json m = ReadJson(kw / "metrics.json");
  CHECK(m["reference_kind"] == "label");
  CHECK(m["threshold"].get<double>() == Approx(0.5));
  CHECK(m["decoder_metadata"].is_array());
  // Transcript mode: the beam entry's words, so no transcript is the greedy "o".
  const fs::path tr = dir.path() / "tr";
  r = RunOssicle(eval + " --columns transcript=word --out '" + tr.string() + "'");
  REQUIRE(r.exit_code == 0);
  m = ReadJson(tr / "metrics.json");
  CHECK(m["reference_kind"] == "transcript");
  CHECK(m["transcript_decoder"] == "decoder.ctc_beam");
  CHECK_THAT(ReadTextFile(tr / "report.md"), Contains("transcripts by decoder.ctc_beam (model metadata)"));
  const std::string clips = ReadTextFile(tr / "clips.tsv");
  CHECK_THAT(clips, !Contains("\to\to\t") && !Contains("\tgo\to\t"));
  CHECK_THAT(clips, Contains("\t3\tgo\tgo\t"));
}
