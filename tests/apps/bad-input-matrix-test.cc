// The bad-input matrix of docs/errors.md, end to end through the real `ossicle` binary: one table per input
// kind (audio files, YAML graphs, experiment configs, manifests, model files, command-line arguments,
// devices). Every row checks the exact message (it names the file and the problem), the exit code, that no
// output or `.partial` file is left behind, and, for audio, that batch runs (`spot`, `transcribe`) go on past
// the bad item with an error record for it. The limits that protect memory (a header claiming billions of
// frames, a tensor of absurd dimensions, YAML nested thousands deep, a manifest line of megabytes) are rows
// too. Small files only: the whole file runs in a few seconds.
#include <sndfile.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/run-ossicle.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using test::RunResult;
using test::Quoted;
using test::RunOssicle;
using Json = nlohmann::json;



// The last record of each file (its summary or its error record).
std::map<std::string, Json> TerminalRecords(const std::string& jsonl) {
  std::map<std::string, Json> out;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const Json j = Json::parse(line);
    if (j["type"] == "summary" || j["type"] == "error") out[j["file"].get<std::string>()] = j;
  }
  return out;
}

// No output and no leftover of one in `dir`.
void CheckNoOutput(const fs::path& dir, const std::string& name) {
  CHECK_FALSE(fs::exists(dir / name));
  CHECK_FALSE(fs::exists(dir / (name + ".partial")));
  for (const auto& e : fs::directory_iterator(dir)) {
    CHECK_THAT(e.path().filename().string(), !Contains(".partial") && !Contains(".tmp"));
  }
}

// A graph that reads audio only (summary records with the duration); `extra` goes into the source's options.
fs::path WriteSourceGraph(const fs::path& dir, const std::string& name, const std::string& extra = "") {
  const fs::path p = dir / name;
  std::ofstream(p) << "description: reads audio\nstages:\n  - name: audio\n    type: source.file\n    options: {"
                   << extra << "}\n";
  return p;
}

// A safetensors file from its JSON header and `data_bytes` zero bytes.
std::string WriteSafetensors(const fs::path& dir, const std::string& name, const std::string& header,
                             size_t data_bytes) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(data_bytes, '\0');
  return test::WriteBytes(dir, name, bytes);
}

struct AudioRow {
  std::string file;      // as given on the command line (relative to the run folder)
  std::string message;   // the exact error, or its start when `prefix`
  bool prefix = false;
};

// Every bad audio file in one `spot` batch between two good ones, then in `transcribe`: the good files get
// their summaries, each bad one exactly its error record (exit_code 4), the output file is complete.
TEST_CASE("bad-input matrix: audio files, batch runs go on past each bad one", "[cli][errors][matrix]") {
  test::ScopedTempDir tmp("ossicle-matrix-audio");
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "bad" / "a-directory.wav");
  test::WriteSineFile(dir, "good-1.wav", 16000, 1, 0.5, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  test::WriteSineFile(dir, "good-2.wav", 16000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const fs::path bad = dir / "bad";
  test::WriteTextFile(bad);
  test::WriteTruncatedHeaderWav(bad);
  test::WriteUnknownFormatTagWav(bad);
  test::WriteEmptyDataWav(bad);
  test::WriteNanFloatWav(bad);
  test::WriteInfFloatWav(bad);
  test::WriteZeroRateWav(bad);
  test::WriteHugeRateWav(bad);
  test::WriteHugeChannelCountWav(bad);
  test::WriteHugeDurationWav(bad);
  test::WriteHugeDurationFlac(bad);
  REQUIRE(mkfifo((bad / "fifo.wav").c_str(), 0600) == 0);  // must not block the run

  const std::vector<AudioRow> rows = {
      {"bad/missing.wav", "bad/missing.wav: cannot open: No such file or directory"},
      // A folder argument is searched for audio files (a batch input may be a folder).
      {"bad/a-directory.wav", "bad/a-directory.wav: no audio files in this folder or below (extensions: ", true},
      {"bad/fifo.wav", "bad/fifo.wav: is not a regular file"},
      {"bad/not-audio.wav", "bad/not-audio.wav: not a recognised audio file (libsndfile: ", true},
      {"bad/truncated-header.wav", "bad/truncated-header.wav: truncated header: ", true},
      {"bad/unknown-format-tag.wav",
       "bad/unknown-format-tag.wav: unsupported encoding: WAV format tag 0x1234 is not one libsndfile decodes"},
      {"bad/empty-data.wav", "bad/empty-data.wav: contains no audio (0 frames)"},
      {"bad/nan.wav", "bad/nan.wav: sample 8000 (t = 0.500 s, channel 0) is NaN; expected finite sample values"},
      {"bad/inf.wav", "bad/inf.wav: sample 1234 (t = 0.077 s, channel 1) is +Inf; expected finite sample values"},
      {"bad/zero-rate.wav", "bad/zero-rate.wav: header declares sample rate 0 Hz; expected 1 to 768000 Hz"},
      {"bad/huge-rate.wav", "bad/huge-rate.wav: header declares sample rate 1000000 Hz; expected 1 to 768000 Hz"},
      {"bad/huge-channels-1000.wav", "bad/huge-channels-1000.wav: header declares 1000 channels; expected 1 to 256"},
      {"bad/huge-duration.wav",
       "bad/huge-duration.wav: duration 134217.7 s exceeds the limit of 86400 s (audio.max_duration_s): header "
       "declares 2147483640 frames at 16000 Hz"},
      {"bad/huge-duration.flac",
       "bad/huge-duration.flac: duration 4294967.3 s exceeds the limit of 86400 s (audio.max_duration_s): header "
       "declares 68719476735 frames at 16000 Hz"},
  };
  std::string inputs = "good-1.wav";
  for (const AudioRow& row : rows) inputs += " " + row.file;
  inputs += " good-2.wav";

  auto check_records = [&](const RunResult& r, const std::string& out_name) {
    CHECK(r.exit_code == 4);
    const auto records = TerminalRecords(test::ReadTextFile(dir / out_name));
    CHECK(records.size() == rows.size() + 2);
    REQUIRE(records.count("good-1.wav") == 1);
    REQUIRE(records.count("good-2.wav") == 1);
    CHECK(records.at("good-1.wav")["type"] == "summary");
    CHECK(records.at("good-2.wav")["type"] == "summary");
    CHECK(records.at("good-2.wav")["duration_s"].get<double>() == Approx(0.25));
    for (const AudioRow& row : rows) {
      INFO(row.file);
      REQUIRE(records.count(row.file) == 1);
      const Json& rec = records.at(row.file);
      CHECK(rec["type"] == "error");
      CHECK(rec["exit_code"] == 4);
      if (row.prefix) {
        CHECK_THAT(rec["error"].get<std::string>(), StartsWith(row.message));
      } else {
        CHECK(rec["error"] == row.message);
      }
      CHECK_THAT(r.err, Contains("error: " + row.message));
    }
    CHECK_FALSE(fs::exists(dir / (out_name + ".partial")));
  };

  const fs::path graph = WriteSourceGraph(dir, "source.yaml");
  check_records(RunOssicle("spot --graph " + Quoted(graph) + " " + inputs + " --out spot.jsonl", dir), "spot.jsonl");

  // transcribe: the same rows through a CTC model (imported from the PyTorch goldens).
  RunResult r = RunOssicle("model import-torch " + std::string(OSSICLE_TEST_DATA_DIR) +
                        "/models/lstm_bi_2layer.safetensors --out ctc.safetensors --labels "
                        "'<blank>,a,b,c,d,e,f,g,h,i,j,k'",
                    dir);
  REQUIRE(r.exit_code == 0);
  check_records(RunOssicle("transcribe --model ctc.safetensors " + inputs + " --out transcribe.jsonl", dir),
                "transcribe.jsonl");

  // The duration limit is configurable per graph (source option max_duration_s): a lower one refuses a
  // 0.5 s file before reading it.
  const fs::path strict = WriteSourceGraph(dir, "strict.yaml", "max_duration_s: 0.3");
  r = RunOssicle("spot --graph " + Quoted(strict) + " good-1.wav good-2.wav --out strict.jsonl", dir);
  CHECK(r.exit_code == 4);
  const auto records = TerminalRecords(test::ReadTextFile(dir / "strict.jsonl"));
  CHECK(records.at("good-1.wav")["error"] ==
        "good-1.wav: duration 0.5 s exceeds the limit of 0.3 s (audio.max_duration_s): header declares 8000 "
        "frames at 16000 Hz");
  CHECK(records.at("good-2.wav")["type"] == "summary");
}

struct CommandRow {
  std::string name;
  std::string args;      // run in the test folder
  int exit_code;
  std::string message;   // stderr starts with "error: " + message; "A*B": starts with "error: A", contains B
  std::string no_output = "out.jsonl";
  bool quiet_stdout = true;  // nothing on standard output
};

void RunRows(const std::vector<CommandRow>& rows, const fs::path& dir) {
  for (const CommandRow& row : rows) {
    INFO(row.name);
    const RunResult r = RunOssicle(row.args, dir);
    CHECK(r.exit_code == row.exit_code);
    // "!..." : a usage error printed by CLI11, without the "error: " of ossicle's own errors.
    const bool usage = !row.message.empty() && row.message[0] == '!';
    const std::string message = usage ? row.message.substr(1) : row.message;
    const size_t star = message.find('*');
    CHECK_THAT(r.err, StartsWith((usage ? "" : "error: ") + message.substr(0, star)));
    if (star != std::string::npos) CHECK_THAT(r.err, Contains(message.substr(star + 1)));
    if (row.quiet_stdout) CHECK(r.out.empty());
    if (!row.no_output.empty()) CheckNoOutput(dir, row.no_output);
  }
}

TEST_CASE("bad-input matrix: YAML graphs, refused before any output", "[cli][errors][matrix]") {
  test::ScopedTempDir tmp("ossicle-matrix-yaml");
  const fs::path dir = tmp.path();
  test::WriteSineFile(dir, "good.wav", 16000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  write("unknown-key.yaml", "description: x\nstages:\n  - name: audio\n    type: source.file\n    optoins: {}\n");
  write("wrong-type.yaml",
        "description: x\nstages:\n  - name: audio\n    type: source.file\n    options: {sample_rate_hz: fast}\n");
  write("syntax.yaml", "description: x\nstages: [\n");
  // Nesting: 5000 open brackets (yaml-cpp alone gives up near 1000 with "bad file"), 200 indented levels.
  write("deep-flow.yaml", "description: x\nstages: " + std::string(5000, '[') + std::string(5000, ']') + "\n");
  std::string block = "description: x\nstages:\n";
  for (int i = 0; i < 200; ++i) block += std::string(static_cast<size_t>(2 * i + 2), ' ') + "k" + std::to_string(i) + ":\n";
  write("deep-block.yaml", block);
  write("big.yaml", "description: x\n# " + std::string((size_t{16} << 20) + 10, 'x') + "\nstages: []\n");
  fs::create_directories(dir / "a-directory.yaml");
  REQUIRE(mkfifo((dir / "fifo.yaml").c_str(), 0600) == 0);

  const std::string spot = "spot good.wav --out out.jsonl --graph ";
  RunRows(
      {
          {"unknown key", spot + "unknown-key.yaml", 3,
           "unknown-key.yaml:5:5: audio: unknown key 'optoins' (did you mean 'options'?)"},
          {"wrong type", spot + "wrong-type.yaml", 3,
           "wrong-type.yaml:5:31: audio.sample_rate_hz: expected a number, got 'fast'"},
          {"YAML syntax", spot + "syntax.yaml", 3, "syntax.yaml:3:1: YAML syntax error: "},
          {"deep flow nesting", spot + "deep-flow.yaml", 3,
           "deep-flow.yaml:2:72: YAML nesting deeper than 64 levels (block indentation and [ { brackets); a "
           "configuration needs far fewer"},
          {"deep block nesting", spot + "deep-block.yaml", 3,
           "deep-block.yaml:66:129: YAML nesting deeper than 64 levels"},
          {"file over 16 MiB", spot + "big.yaml", 7,
           "big.yaml: 16777255 bytes; a configuration file is at most 16777216 bytes"},
          {"a directory", spot + "a-directory.yaml", 7, "a-directory.yaml: is a directory, not a configuration file"},
          {"a FIFO (never blocks)", spot + "fifo.yaml", 7, "fifo.yaml: is not a regular file"},
          {"missing", spot + "missing.yaml", 7, "missing.yaml: cannot open configuration file"},
          {"run: deep nesting", "run deep-flow.yaml", 3, "deep-flow.yaml:2:72: YAML nesting deeper than 64 levels"},
      },
      dir);
}

TEST_CASE("bad-input matrix: experiment configs and manifests", "[cli][errors][matrix]") {
  test::ScopedTempDir tmp("ossicle-matrix-train");
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "audio");
  std::string tsv = "path\tlabel\n";
  for (int i = 0; i < 2; ++i) {
    for (const char* name : {"low", "high"}) {
      const std::string file = std::string(name) + std::to_string(i) + ".wav";
      test::WriteSineFile(dir / "audio", file, 8000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                          name[0] == 'l' ? 300.0 : 2000.0);
      tsv += "audio/" + file + "\t" + name + "\n";
    }
  }
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  write("train.tsv", tsv);
  write("long-line.tsv", tsv + "audio/" + std::string(size_t{2} << 20, 'x') + ".wav\tlow\n");
  write("fields.tsv", tsv + "audio/low0.wav\tlow\textra\n");
  write("no-path.tsv", tsv + "\tlow\n");
  auto experiment = [](const std::string& manifest) {
    return "name: tiny\nlabels: [low, high]\n"
           "features: {frame: {sample_rate_hz: 8000}, mel: {num_mel_bins: 8}}\n"
           "model: {hidden_size: 4, num_layers: 1}\n"
           "data:\n"
           "  train: [{manifest: " + manifest + ", columns: {label: label}}]\n"
           "  loader: {batch_size: 4, workers: 0}\n"
           "training: {epochs: 1}\n"
           "outputs: {dir: out}\n";
  };
  write("good.yaml", experiment("train.tsv"));
  write("long-line.yaml", experiment("long-line.tsv"));
  write("fields.yaml", experiment("fields.tsv"));
  write("no-path.yaml", experiment("no-path.tsv"));
  write("deep.yaml", experiment("train.tsv") + "x: " + std::string(100, '{') + std::string(100, '}') + "\n");
  write("typo.yaml", experiment("train.tsv") + "trainig: {}\n");
  REQUIRE(RunOssicle("train good.yaml --check", dir).exit_code == 0);

  RunRows(
      {
          {"unknown key", "train typo.yaml --check", 3, "typo.yaml:10:1: unknown key 'trainig' (did you mean 'training'?)",
           "out"},
          {"deep nesting", "train deep.yaml --check", 3, "deep.yaml:10:67: YAML nesting deeper than 64 levels", "out"},
          {"manifest line over 1 MiB", "train long-line.yaml --check", 7,
           "long-line.yaml:6:11: data.train[0]: *long-line.tsv:6: line longer than 1048576 bytes (limit manifest "
           "max_line_bytes); not a manifest?",
           "out"},
          {"manifest field count", "train fields.yaml --check", 7,
           "fields.yaml:6:11: data.train[0]: *fields.tsv:6: 3 fields; expected 2 as in the header (path, label)", "out"},
          {"manifest empty path", "train no-path.yaml --check", 7,
           "no-path.yaml:6:11: data.train[0]: *no-path.tsv:6: column 'path' is empty; expected an audio file path",
           "out"},
      },
      dir);
}

TEST_CASE("bad-input matrix: model files", "[cli][errors][matrix]") {
  test::ScopedTempDir tmp("ossicle-matrix-model");
  const fs::path dir = tmp.path();
  test::WriteSineFile(dir, "good.wav", 16000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  // A tensor claiming 2^32 x 2^32 floats (64 EiB) in a 16-byte file: refused from the header alone.
  WriteSafetensors(dir, "absurd-dims.safetensors",
                   R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", 16);
  WriteSafetensors(dir, "deep-rank.safetensors",
                   R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4);
  test::WriteBytes(dir, "short.safetensors", "abc");
  test::WriteBytes(dir, "text.safetensors", "this is not a model file\n");
  RunRows(
      {
          {"absurd dimensions", "model info absurd-dims.safetensors", 5,
           "absurd-dims.safetensors: tensor 'w': \"shape\" dimension 0 is 4294967296, more than the limit of "
           "2147483648 elements per tensor (SafetensorsLimits::max_elements)",
           ""},
          {"too many dimensions", "model info deep-rank.safetensors", 5,
           "deep-rank.safetensors: tensor 'w': \"shape\" has more than 8 dimensions (SafetensorsLimits::max_rank)", ""},
          {"shorter than 8 bytes", "model info short.safetensors", 5,
           "short.safetensors: file is 3 bytes; a safetensors file starts with an 8-byte header length", ""},
          {"text", "model info text.safetensors", 5,
           "text.safetensors: not a safetensors file, or truncated: header length ", ""},
          {"missing", "model info missing.safetensors", 7, "missing.safetensors: cannot open: No such file or directory",
           ""},
          {"spot with an absurd model: nothing written", "spot good.wav --model absurd-dims.safetensors --out out.jsonl",
           5, "", "out.jsonl"},
      },
      dir);
}

TEST_CASE("bad-input matrix: command-line arguments and devices", "[cli][errors][matrix]") {
  test::ScopedTempDir tmp("ossicle-matrix-cli");
  const fs::path dir = tmp.path();
  test::WriteSineFile(dir, "good.wav", 16000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  REQUIRE(RunOssicle("model import-torch " + std::string(OSSICLE_TEST_DATA_DIR) +
                  "/models/lstm_bi_2layer.safetensors --out kws.safetensors --labels "
                  "_silence_,yes,no,up,down,left,right,on,off,stop,go,_unknown_",
              dir)
              .exit_code == 0);
  RunRows(
      {
          {"unknown command", "frobnicate", 2, "!A subcommand is required"},
          {"unknown option", "spot good.wav --out out.jsonl --frobnicate", 2,
           "!The following argument was not expected: --frobnicate"},
          {"bad option value", "spot good.wav --out out.jsonl --jobs 0", 2, "!--jobs: Value 0 not in range 1 to 256"},
          {"option without its value", "spot good.wav --out", 2, "!--out: 1 required TEXT missing"},
          {"--set without =", "spot good.wav --out out.jsonl --set novalue", 3,
           "--set 'novalue': expected stage.option=value (e.g. model.path=cmds.safetensors)"},
          {"unknown capture device", "listen --device no-such-device-xyz --duration 0.1 --model kws.safetensors", 6,
           "!*error: no audio device matches 'no-such-device-xyz'", "", false},
      },
      dir);
}

}  // namespace
}  // namespace ossicle
