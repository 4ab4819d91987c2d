// RunBatch with fake jobs: input order whatever the number of workers, error records for failing files,
// resume skipping, and the bounded wait for slow files.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "features/errors.h"
#include "pipeline/batch-runner.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

std::string ReadOutput(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<BatchInput> Inputs(int n) {
  std::vector<BatchInput> inputs;
  for (int i = 0; i < n; ++i) inputs.push_back({"f" + std::to_string(i) + ".wav", ""});
  return inputs;
}

int Index(const std::string& file) { return std::stoi(file.substr(1)); }

// A deterministic job whose run time varies by file (so files finish out of order on several workers):
// file i has i % 3 hits; files 7, 17, 27, ... fail with an AudioError after adding a hit.
BatchJob FakeJob(std::atomic<int>* calls = nullptr) {
  return [calls](const std::string& file, RecordSink& sink) {
    if (calls != nullptr) ++*calls;
    const int i = Index(file);
    std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % 5 * 300));
    for (int h = 0; h < i % 3; ++h) sink.Add(MakeHitRecord(file, "kw" + std::to_string(h), 0.1 * h, 0.1 * h + 0.05, 0.9));
    if (i % 10 == 7) throw AudioError(file + ": sample 8000 (t = 0.500 s, channel 0) is NaN");
    sink.Add(MakeSummaryRecord(file, 1.0 + i, i % 3));
  };
}

int Classify(const std::exception& e) {
  if (dynamic_cast<const AudioError*>(&e)) return 4;
  if (dynamic_cast<const ConfigError*>(&e)) return 3;
  return 1;
}

BatchRunnerConfig Quiet(int jobs) {
  BatchRunnerConfig c;
  c.jobs = jobs;
  c.message_stream = nullptr;
  return c;
}

BatchResult RunTo(const std::string& out, const std::vector<BatchInput>& inputs, int jobs, bool resume = false,
                  std::atomic<int>* calls = nullptr) {
  RecordWriter writer({.path = out, .resume = resume});
  BatchResult r = RunBatch(inputs, [calls] { return FakeJob(calls); }, writer, Quiet(jobs), Classify);
  writer.Finish();
  return r;
}

TEST_CASE("batch runner: several workers write the same records in the same order as one", "[batch][runner][threads]") {
  test::ScopedTempDir tmp;
  const auto inputs = Inputs(40);
  const BatchResult one = RunTo((tmp.path() / "one.jsonl").string(), inputs, 1);
  const BatchResult four = RunTo((tmp.path() / "four.jsonl").string(), inputs, 4);
  const std::string expected = ReadOutput(tmp.path() / "one.jsonl");
  CHECK(ReadOutput(tmp.path() / "four.jsonl") == expected);
  // With a window of one finished file the workers wait for the writer: same output, no deadlock.
  {
    RecordWriter writer({.path = (tmp.path() / "narrow.jsonl").string()});
    BatchRunnerConfig c = Quiet(3);
    c.max_buffered_files = 1;
    RunBatch(inputs, [] { return FakeJob(); }, writer, c, Classify);
    writer.Finish();
  }
  CHECK(ReadOutput(tmp.path() / "narrow.jsonl") == expected);

  // Every file exactly once, in input order, ending with its summary or one error record.
  std::istringstream lines(expected);
  std::vector<std::string> terminal_files;
  for (std::string line; std::getline(lines, line);) {
    const Record r = Record::parse(line);
    if (IsTerminalRecord(r)) terminal_files.push_back(r["file"]);
    if (r["type"] == "error") {
      CHECK(Index(r["file"]) % 10 == 7);
      CHECK(r["exit_code"] == 4);
      CHECK(r["error"] == r["file"].get<std::string>() + ": sample 8000 (t = 0.500 s, channel 0) is NaN");
    }
    if (r["type"] == "hit") CHECK(Index(r["file"]) % 10 != 7);  // a failed file's hits are dropped
  }
  std::vector<std::string> names;
  for (const BatchInput& in : inputs) names.push_back(in.path);
  CHECK(terminal_files == names);
  CHECK(one.processed == 40);
  CHECK(one.failed == 4);
  CHECK(one.exit_code == 4);
  CHECK(four.failed == 4);
  CHECK(four.exit_code == 4);
}

TEST_CASE("batch runner: bad inputs become error records and the run goes on", "[batch][runner]") {
  test::ScopedTempDir tmp;
  const std::string out = (tmp.path() / "out.jsonl").string();
  std::vector<BatchInput> inputs{{"f1.wav", ""},
                                 {"missing.wav", "missing.wav: cannot open: No such file or directory"},
                                 {"f3.wav", ""}};
  RecordWriter writer({.path = out});
  auto make_job = [] {
    return [](const std::string& file, RecordSink& sink) {
      if (file == "f3.wav") throw ConfigError("audio.channel = 2; expected < 1 (the channel count of f3.wav)");
      sink.Add(MakeHitRecord(file, "yes", 0.5, 0.75, 0.5));  // no summary: the runner adds one
    };
  };
  std::FILE* messages = std::tmpfile();
  BatchRunnerConfig c;
  c.message_stream = messages;
  c.progress = ProgressMode::kNever;
  const BatchResult r = RunBatch(inputs, make_job, writer, c, Classify);
  writer.Finish();
  CHECK(r.processed == 3);
  CHECK(r.failed == 2);
  CHECK(r.exit_code == 4);  // the first failure in input order
  CHECK(ReadOutput(out) ==
        R"({"type":"hit","file":"f1.wav","keyword":"yes","start_s":0.5,"end_s":0.75,"score":0.5})"
        "\n"
        R"({"type":"summary","file":"f1.wav"})"
        "\n"
        R"({"type":"error","file":"missing.wav","error":"missing.wav: cannot open: No such file or directory","exit_code":4})"
        "\n"
        R"J({"type":"error","file":"f3.wav","error":"audio.channel = 2; expected < 1 (the channel count of f3.wav)","exit_code":3})J"
        "\n");
  // One "error:" line per failed file on the message stream, in input order.
  std::rewind(messages);
  std::string text;
  for (int ch; (ch = std::fgetc(messages)) != EOF;) text += static_cast<char>(ch);
  std::fclose(messages);
  CHECK(text ==
        "error: missing.wav: cannot open: No such file or directory\n"
        "error: audio.channel = 2; expected < 1 (the channel count of f3.wav)\n");
}

TEST_CASE("batch runner: resume skips the files already reported", "[batch][runner]") {
  test::ScopedTempDir tmp;
  const std::string out = (tmp.path() / "out.jsonl").string();
  const auto inputs = Inputs(30);
  RunTo((tmp.path() / "reference.jsonl").string(), inputs, 2);
  const std::string expected = ReadOutput(tmp.path() / "reference.jsonl");

  // A first run over 12 files, then the whole list with --resume: only 18 jobs run and the output is the
  // same as one uninterrupted run.
  RunTo(out, std::vector<BatchInput>(inputs.begin(), inputs.begin() + 12), 2);
  std::atomic<int> calls{0};
  const BatchResult r = RunTo(out, inputs, 2, /*resume=*/true, &calls);
  CHECK(calls == 18);
  CHECK(r.skipped == 12);
  CHECK(r.processed == 18);
  CHECK(r.failed == 2);     // f17, f27 (f7 was in the first run)
  CHECK(r.exit_code == 4);  // f7's resumed error record counts
  CHECK(ReadOutput(out) == expected);

  // Resuming a complete output runs nothing and keeps it.
  calls = 0;
  const BatchResult again = RunTo(out, inputs, 2, /*resume=*/true, &calls);
  CHECK(calls == 0);
  CHECK(again.skipped == 30);
  CHECK(again.exit_code == 4);
  CHECK(ReadOutput(out) == expected);
}

TEST_CASE("batch runner: configuration and job-factory errors stop before any file runs", "[batch][runner]") {
  test::ScopedTempDir tmp;
  const std::string out = (tmp.path() / "out.jsonl").string();
  RecordWriter writer({.path = out});
  CHECK_THROWS_MATCHES(RunBatch(Inputs(3), [] { return FakeJob(); }, writer, Quiet(0), Classify), ConfigError,
                       test::HasMessage("jobs = 0; expected between 1 and 256"));
  CHECK_THROWS_MATCHES(RunBatch(Inputs(3), [] { return FakeJob(); }, writer, Quiet(300), Classify), ConfigError,
                       test::HasMessage("jobs = 300"));
  int made = 0;
  auto failing_factory = [&]() -> BatchJob {
    if (++made == 2) throw ModelFormatError("m.safetensors: no tensor 'out.bias'");
    return FakeJob();
  };
  CHECK_THROWS_MATCHES(RunBatch(Inputs(3), failing_factory, writer, Quiet(2), Classify), ModelFormatError,
                       test::HasMessage("no tensor 'out.bias'"));
  CHECK(writer.FilesWritten() == 0);
  // More workers than files: only as many jobs as files are made.
  made = 0;
  auto counting_factory = [&] {
    ++made;
    return FakeJob();
  };
  RunBatch(Inputs(2), counting_factory, writer, Quiet(8), Classify);
  CHECK(made == 2);
}

}  // namespace
}  // namespace ossicle
