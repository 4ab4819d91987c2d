// End-to-end tests of the real `ossicle` binary: what it prints (values, not only exit codes), the
// documented exit codes (apps/exit-codes.h), and that failed runs leave no partial output.
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/run-ossicle.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/npy-file.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using test::RunResult;
using test::TestAudio;
using test::RunOssicle;
const auto ReadText = test::ReadTextFile;


std::string Golden(const std::string& name) { return std::string(OSSICLE_TEST_DATA_DIR) + "/features/" + name; }

// test-audio/manifest.tsv rows as maps from column name to value.
std::vector<std::map<std::string, std::string>> Manifest() {
  std::ifstream in(std::string(OSSICLE_SOURCE_DIR) + "/test-audio/manifest.tsv");
  std::vector<std::map<std::string, std::string>> rows;
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& s) {
    std::vector<std::string> v;
    std::stringstream ss(s);
    for (std::string f; std::getline(ss, f, '\t');) v.push_back(f);
    return v;
  };
  std::getline(in, line);
  header = split(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto f = split(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < f.size(); ++i) row[header[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

using test::MaxAbsDiff;

TEST_CASE("ossicle --version and --help", "[cli]") {
  RunResult r = RunOssicle("--version");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("ossicle 0.1.0"));

  r = RunOssicle("--help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("info") && Contains("features") && Contains("config-docs"));

  r = RunOssicle("features --help");
  CHECK(r.exit_code == 0);
  // Every option shows its default.
  CHECK_THAT(r.out, Contains("--preset") && Contains("=kaldi-fbank") && Contains("--num-mel-bins") &&
                        Contains("=0") && Contains("--channel") && Contains("=-1"));
}

TEST_CASE("ossicle with a bad command line exits 2", "[cli]") {
  CHECK(RunOssicle("").exit_code == 2);
  CHECK(RunOssicle("no-such-command").exit_code == 2);
  RunResult r = RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --preset nope");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("--preset"));
}

TEST_CASE("ossicle info reports every bundled file as its manifest says", "[cli][audio]") {
  const auto rows = Manifest();
  REQUIRE(rows.size() >= 10);
  std::string args = "info --json";
  for (const auto& row : rows) args += " " + TestAudio(row.at("path"));
  RunResult r = RunOssicle(args);
  REQUIRE(r.exit_code == 0);
  std::istringstream lines(r.out);
  size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    REQUIRE(i < rows.size());
    const auto j = nlohmann::json::parse(line);
    INFO(rows[i].at("path"));
    CHECK(j.at("path").get<std::string>() == TestAudio(rows[i].at("path")));
    CHECK(j.at("sample_rate_hz").get<int>() == std::stoi(rows[i].at("sample_rate_hz")));
    CHECK(j.at("channels").get<int>() == std::stoi(rows[i].at("channels")));
    CHECK(j.at("duration_s").get<double>() == Approx(std::stod(rows[i].at("duration_s"))).margin(0.001));
  }
  CHECK(i == rows.size());

  r = RunOssicle("info " + TestAudio("three-one-four_en-gb_44k1_stereo.wav"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("WAV PCM_16, 44100 Hz, 2 channels, 65921 frames, 1.495 s"));
}

TEST_CASE("ossicle features reproduces the numpy reference files", "[cli][features]") {
  test::ScopedTempDir tmp;
  struct Case {
    std::string args, golden;
  };
  const Case cases[] = {
      {"--preset kaldi-fbank --num-mel-bins 40", "speech_16k.kaldi40.npy"},
      {"--preset kaldi-fbank --num-mel-bins 80", "speech_16k.kaldi80.npy"},
      {"--preset kaldi-fbank --set frame.padding=kaldi_reflect", "speech_16k.kaldi40-nosnip.npy"},
      {"--preset librosa-logmel --num-mel-bins 80", "speech_16k.librosa80.npy"},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    const fs::path out = tmp.path() / "x.npy";
    RunResult r = RunOssicle("features " + Golden("speech_16k.wav") + " " + c.args + " --out " + out.string());
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("240 frames") || Contains("242 frames"));
    CHECK(MaxAbsDiff(ReadNpy(out.string()), ReadNpy(Golden(c.golden))) <= 1e-5);
  }
}

TEST_CASE("ossicle features: formats and rates give the same features as the 16 kHz WAV", "[cli][features]") {
  test::ScopedTempDir tmp;
  auto features = [&](const std::string& file, const std::string& extra = "") {
    const fs::path out = tmp.path() / "f.npy";
    RunResult r = RunOssicle("features " + TestAudio(file) + " " + extra + " --out " + out.string());
    REQUIRE(r.exit_code == 0);
    return ReadNpy(out.string());
  };
  const NpyMatrix ref = features("stop_en_16k.wav");
  const NpyMatrix ref_yes = features("yes_en-us_16k.wav");
  REQUIRE(ref.Rows() == 107);
  // Lossless variants decode to the very same samples.
  for (const char* f : {"stop_en_16k_float32.wav", "stop_en_16k_s24.wav", "stop_en_16k.flac", "stop_en_16k.aiff"}) {
    INFO(f);
    CHECK(MaxAbsDiff(features(f), ref) <= 1e-5);
  }
  // Resampled and lossy variants: same frame count, and close where there is energy: the mean abs diff
  // over the cells of bins [0, max_bin) that are loud in the reference (> 10, i.e. well above the floor).
  auto mean_diff_loud = [&](const NpyMatrix& m, const NpyMatrix& reference, int max_bin) {
    REQUIRE(m.Rows() == reference.Rows());
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < reference.data.size(); ++i) {
      if (static_cast<int>(i % 40) < max_bin && reference.data[i] > 10.0f) {
        sum += std::abs(double(m.data[i]) - reference.data[i]);
        ++n;
      }
    }
    REQUIRE(n > 300);
    return sum / n;
  };
  // 48 kHz -> 16 kHz with soxr: nearly the same signal.
  CHECK(mean_diff_loud(features("yes_en-us_48k.wav"), ref_yes, 40) < 0.02);
  // Vorbis (quality 3) is lossy and shifts the waveform by a few ms; bins below ~5 kHz (mel bin 31).
  CHECK(mean_diff_loud(features("stop_en_16k.ogg"), ref, 31) < 1.0);
  // 8 kHz (made from the 16 kHz clip by sox) has nothing above 4 kHz; bins whose centre is below 3.5 kHz are the 28 lowest
  // (HTK mel: centre of bin m = mel(20) + (m + 1) (mel(8000) - mel(20)) / 41 < mel(3500) for m < 28).
  CHECK(mean_diff_loud(features("stop_en_8k.wav"), ref, 28) < 0.02);

  const NpyMatrix stereo_left = features("three-one-four_en-gb_44k1_stereo.wav", "--channel 0");
  const NpyMatrix mono16 = features("three-one-four_en-gb_16k.wav");
  REQUIRE(stereo_left.Rows() == mono16.Rows());
  // The right channel is the left at half amplitude: the average is 0.75 x left, so every loud log-mel
  // value drops by 2 ln(0.75) = -0.575 relative to --channel 0.
  const NpyMatrix stereo_avg = features("three-one-four_en-gb_44k1_stereo.wav");
  double shift = 0;
  int n = 0;
  for (size_t i = 0; i < stereo_avg.data.size(); ++i) {
    if (stereo_left.data[i] > 15.0f) {
      shift += double(stereo_avg.data[i]) - stereo_left.data[i];
      ++n;
    }
  }
  REQUIRE(n > 100);
  CHECK(shift / n == Approx(2 * std::log(0.75)).margin(0.01));
}

TEST_CASE("ossicle features prints a per-file summary and writes --out-dir", "[cli][features]") {
  test::ScopedTempDir tmp;
  RunResult r = RunOssicle("features " + TestAudio("yes_en-us_16k.wav") + " " + TestAudio("go-left_en-us_16k.wav") + " --out-dir " +
                    (tmp.path() / "feats").string());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("yes_en-us_16k.wav: 1.114 s, 109 frames x 40 dims"));
  CHECK_THAT(r.out, Contains("go-left_en-us_16k.wav: 1.122 s, 110 frames x 40 dims"));
  CHECK(ReadNpy((tmp.path() / "feats" / "yes_en-us_16k.npy").string()).Rows() == 109);
  CHECK(ReadNpy((tmp.path() / "feats" / "go-left_en-us_16k.npy").string()).Rows() == 110);
}

TEST_CASE("ossicle features with a YAML config, --set and --print-config round trip", "[cli][config]") {
  test::ScopedTempDir tmp;
  const fs::path yaml = tmp.path() / "mfcc.yaml";
  std::ofstream(yaml) << "# MFCC with deltas\ntype: mfcc\nmel:\n  num_mel_bins: 23\nmfcc:\n  num_ceps: 13\n"
                         "deltas:\n  order: 2\n";
  RunResult r = RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --config " + yaml.string());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("107 frames x 39 dims"));

  r = RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --config " + yaml.string() + " --set deltas.order=1");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("107 frames x 26 dims"));

  // The printed configuration, read back, gives identical features.
  r = RunOssicle("features x.wav --config " + yaml.string() + " --print-config");
  REQUIRE(r.exit_code == 0);
  const fs::path printed = tmp.path() / "printed.yaml";
  std::ofstream(printed) << r.out;
  const fs::path a = tmp.path() / "a.npy", b = tmp.path() / "b.npy";
  REQUIRE(RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --config " + yaml.string() + " --out " + a.string())
              .exit_code == 0);
  REQUIRE(RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --config " + printed.string() + " --out " + b.string())
              .exit_code == 0);
  CHECK(MaxAbsDiff(ReadNpy(a.string()), ReadNpy(b.string())) == 0.0);
}

TEST_CASE("ossicle features: configuration errors exit 3 and name the file, line and key", "[cli][config]") {
  test::ScopedTempDir tmp;
  const std::string wav = TestAudio("stop_en_16k.wav");
  auto write = [&](const std::string& name, const std::string& text) {
    const fs::path p = tmp.path() / name;
    std::ofstream(p) << text;
    return p.string();
  };
  std::string y = write("typo.yaml", "type: fbank\nframe:\n  frame_lenght_ms: 30\n");
  RunResult r = RunOssicle("features " + wav + " --config " + y);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains(y + ":3:3") && Contains("frame: unknown key 'frame_lenght_ms'") &&
                        Contains("did you mean 'frame_length_ms'"));

  y = write("badvalue.yaml", "mel:\n  num_mel_bins: 0\n");
  r = RunOssicle("features " + wav + " --config " + y);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains(y) && Contains("mel.num_mel_bins = 0; expected between 1 and 1024"));

  y = write("badtype.yaml", "mel:\n  num_mel_bins: forty\n");
  r = RunOssicle("features " + wav + " --config " + y);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains(y + ":2:17") && Contains("mel.num_mel_bins: expected an integer, got 'forty'"));

  y = write("badenum.yaml", "frame:\n  window: triangle\n");
  r = RunOssicle("features " + wav + " --config " + y);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("frame.window: 'triangle' is not one of hann|hamming|povey|blackman|rectangular"));

  y = write("syntax.yaml", "frame: [1, 2\n");
  r = RunOssicle("features " + wav + " --config " + y);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains(y + ":") && Contains("YAML syntax error"));

  r = RunOssicle("features " + wav + " --set frame.frame_shift_ms=0");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("frame.frame_shift_ms = 0; expected > 0"));

  r = RunOssicle("features " + wav + " --set novalue");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("--set 'novalue': expected key.path=value"));

  r = RunOssicle("features " + wav + " --config " + (tmp.path() / "missing.yaml").string());
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("missing.yaml: cannot open"));
}

// Every bad audio input: the message names the file and the problem, the exit code is 4, no output file
// is left behind, and a batch goes on past the bad file.
TEST_CASE("ossicle info and features reject bad audio with exit code 4", "[cli][audio][errors]") {
  test::ScopedTempDir tmp;
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "a-directory.wav");
  struct Case {
    std::string path;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {(dir / "missing.wav").string(), {"cannot open", "No such file"}},
      {(dir / "a-directory.wav").string(), {"is a directory"}},
      {test::WriteTextFile(dir), {"not a recognised audio file"}},
      {test::WriteTruncatedHeaderWav(dir), {"truncated header"}},
      {test::WriteUnknownFormatTagWav(dir), {"unsupported encoding", "0x1234"}},
      {test::WriteEmptyDataWav(dir), {"contains no audio (0 frames)"}},
      {test::WriteNanFloatWav(dir), {"sample 8000 (t = 0.500 s, channel 0) is NaN"}},
      {test::WriteInfFloatWav(dir), {"(t = 0.077 s, channel 1) is +Inf"}},
      {test::WriteZeroRateWav(dir), {"sample rate 0 Hz"}},
      {test::WriteHugeRateWav(dir), {"sample rate 1000000 Hz"}},
      {test::WriteHugeChannelCountWav(dir), {"channels"}},
      {test::WriteHugeDurationWav(dir), {"exceeds the limit", "audio.max_duration_s"}},
  };
  const std::string good = TestAudio("stop_en_16k.wav");
  for (const Case& c : cases) {
    INFO(c.path);
    const bool probe_only = c.path.find("nan") == std::string::npos && c.path.find("inf") == std::string::npos;
    if (probe_only) {  // header problems: `info` sees them
      RunResult r = RunOssicle("info " + c.path);
      CHECK(r.exit_code == 4);
      CHECK_THAT(r.err, Contains("error: " + c.path + ": "));
      for (const auto& w : c.words) CHECK_THAT(r.err, Contains(w));
    }
    // Every problem: `features` fails with no output left behind.
    const fs::path out = dir / "out.npy";
    RunResult r = RunOssicle("features " + c.path + " --out " + out.string(), dir);
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Contains("error: " + c.path + ": "));
    for (const auto& w : c.words) CHECK_THAT(r.err, Contains(w));
    CHECK_FALSE(fs::exists(out));
    for (const auto& entry : fs::directory_iterator(dir)) CHECK_THAT(entry.path().string(), !Contains(".tmp"));

    // In a batch, the good files around the bad one still get their results.
    r = RunOssicle("features " + good + " " + c.path + " " + good);
    CHECK(r.exit_code == 4);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
    CHECK_THAT(r.out, Contains("stop_en_16k.wav: 1.090 s, 107 frames x 40 dims"));
  }
}

TEST_CASE("ossicle features cannot write its output: exit 7", "[cli][errors]") {
  RunResult r = RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --out /nonexistent-dir/x.npy");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("/nonexistent-dir/x.npy: cannot open for writing"));
}

TEST_CASE("ossicle config-docs lists every feature key with its default", "[cli][config]") {
  RunResult r = RunOssicle("config-docs --markdown");
  REQUIRE(r.exit_code == 0);
  for (const char* key : {"`frame.frame_length_ms`", "`frame.padding`", "`mel.num_mel_bins`", "`mel.scale`",
                          "`log_floor`", "`mfcc.num_ceps`", "`cmvn.mode`", "`cmvn.stats_file`", "`deltas.order`"}) {
    CHECK_THAT(r.out, Contains(key));
  }
  CHECK_THAT(r.out, Contains("| `frame.frame_length_ms` | float | ms | `25` |"));
  // configs/README.md is this output, so it cannot drift.
  const std::string readme = ReadText(std::string(OSSICLE_SOURCE_DIR) + "/configs/README.md");
  CHECK_THAT(readme, Contains(r.out));
}

TEST_CASE("ossicle cmvn-stats then global CMVN normalises the data set to zero mean", "[cli][cmvn]") {
  test::ScopedTempDir tmp;
  const std::string files = TestAudio("yes_en-us_16k.wav") + " " + TestAudio("go-left_en-us_16k.wav");
  const fs::path stats = tmp.path() / "stats.json";
  RunResult r = RunOssicle("cmvn-stats " + files + " --preset kaldi-mfcc --out " + stats.string());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("219 frames from 2 of 2 files, dim 13"));  // 109 + 110 frames

  // With the statistics of these very files, their normalised features have mean 0 and variance 1 over
  // both files together.
  r = RunOssicle("features " + files + " --preset kaldi-mfcc --set cmvn.mode=global --set cmvn.normalize_variance=true" +
          " --set cmvn.stats_file=" + stats.string() + " --out-dir " + (tmp.path() / "f").string());
  REQUIRE(r.exit_code == 0);
  const NpyMatrix a = ReadNpy((tmp.path() / "f" / "yes_en-us_16k.npy").string());
  const NpyMatrix b = ReadNpy((tmp.path() / "f" / "go-left_en-us_16k.npy").string());
  for (int d = 0; d < 13; ++d) {
    double s = 0, s2 = 0;
    for (const NpyMatrix* m : {&a, &b}) {
      for (int64_t t = 0; t < m->Rows(); ++t) {
        const double v = m->data[static_cast<size_t>(t * 13 + d)];
        s += v;
        s2 += v * v;
      }
    }
    INFO("dim " << d);
    CHECK(s / 219 == Approx(0.0).margin(1e-4));
    CHECK(s2 / 219 == Approx(1.0).epsilon(1e-4));
  }

  // A bad file in the set is reported and skipped; the statistics come from the others.
  r = RunOssicle("cmvn-stats " + files + " " + (tmp.path() / "missing.wav").string() + " --preset kaldi-mfcc --out " +
          stats.string());
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.out, Contains("from 2 of 3 files"));
  CHECK_THAT(r.err, Contains("missing.wav: cannot open"));

  // Statistics of another dimension are refused with the file named.
  r = RunOssicle("features " + TestAudio("yes_en-us_16k.wav") + " --set cmvn.mode=global --set cmvn.stats_file=" +
          stats.string());
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Contains(stats.string() + ": CMVN statistics have dim 13, the features have 40"));
}

TEST_CASE("every configuration in configs/features runs", "[cli][config]") {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(std::string(OSSICLE_SOURCE_DIR) + "/configs/features")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path());
    RunResult r = RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --config " + entry.path().string());
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("frames x"));
    ++n;
  }
  CHECK(n >= 3);
}

}  // namespace
}  // namespace ossicle
