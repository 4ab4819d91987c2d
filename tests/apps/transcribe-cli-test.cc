// End-to-end tests of `ossicle transcribe` through the real binary, with the shipped batch-transcribe.yaml and
// a CTC model imported from the PyTorch goldens in tests/data (random weights: the text is arbitrary but
// fixed). The batch machinery itself is covered in detail by spot-cli-test.cc.
#include <catch2/catch.hpp>
#include <algorithm>
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
using test::RunResult;
using Json = nlohmann::json;

using test::JsonLines;

TEST_CASE("transcribe: transcript and summary per file, error records, --jobs, CSV, resume", "[cli][batch][threads]") {
  test::ScopedTempDir tmp;
  RunResult r = test::RunOssicle("model import-torch " + std::string(OSSICLE_TEST_DATA_DIR) +
                                     "/models/lstm_bi_2layer.safetensors --out ctc.safetensors --labels "
                                     "'<blank>,a,b,c,d,e,f,g,h,i,j,k'",
                                 tmp.path());
  REQUIRE(r.exit_code == 0);
  test::WriteEmptyDataWav(tmp.path());
  const std::string audio = std::string(OSSICLE_SOURCE_DIR) + "/test-audio/";
  const std::string inputs = audio + "yes_en-us_16k.wav empty-data.wav " + audio + "seven-two_en-029_16k.wav";
  const RunResult one = test::RunOssicle("transcribe " + inputs + " --model ctc.safetensors", tmp.path());
  CHECK(one.exit_code == 4);
  // --jobs 2 equals --jobs 1, with the shipped beam-search graph (its output once varied from run to run:
  // token runs with an invalid token read garbage) and with the greedy decoder.
  for (int run = 0; run < 2; ++run) {
    const RunResult two = test::RunOssicle("transcribe " + inputs + " --model ctc.safetensors --jobs 2", tmp.path());
    CHECK(two.exit_code == 4);
    CHECK(two.out == one.out);
  }
  {
    std::ifstream in(std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/batch-transcribe.yaml");
    std::ofstream out(tmp.path() / "greedy.yaml");
    for (std::string line; std::getline(in, line);) {
      if (line.find("beam_width") != std::string::npos || line.find("word_list_file") != std::string::npos) continue;
      const size_t at = line.find("decoder.ctc_beam");
      if (at != std::string::npos) line.replace(at, 16, "decoder.ctc_greedy");
      out << line << "\n";
    }
  }
  const RunResult g1 = test::RunOssicle("transcribe " + inputs + " --graph greedy.yaml --model ctc.safetensors", tmp.path());
  const RunResult g2 =
      test::RunOssicle("transcribe " + inputs + " --graph greedy.yaml --model ctc.safetensors --jobs 2", tmp.path());
  CHECK(g1.exit_code == 4);
  CHECK(g2.exit_code == 4);
  CHECK(JsonLines(g1.out).size() == 5);
  CHECK(g2.out == g1.out);
  CHECK_THAT(one.err, Contains("error: empty-data.wav: contains no audio (0 frames)"));

  const auto records = JsonLines(one.out);
  std::vector<std::string> order;
  for (const Json& j : records) order.push_back(j["type"].get<std::string>() + " " + j["file"].get<std::string>());
  const std::string yes = audio + "yes_en-us_16k.wav", seven = audio + "seven-two_en-029_16k.wav";
  CHECK(order == std::vector<std::string>{"transcript " + yes, "summary " + yes, "error empty-data.wav",
                                          "transcript " + seven, "summary " + seven});
  for (const Json& j : records) {
    if (j["type"] == "transcript") {
      CHECK(j["text"].is_string());
      CHECK(j["confidence"].get<double>() >= 0.0);
      CHECK(j["confidence"].get<double>() <= 1.0);
      REQUIRE(j["tokens"].is_array());
      for (const Json& w : j["words"]) {
        const std::string word = w["token"].get<std::string>();
        INFO("word '" << word << "'");
        CHECK(!word.empty());
        CHECK(word.find_first_not_of("abcdefghijk") == std::string::npos);  // the model's labels only
      }
      double previous_end = 0.0;
      for (const Json& tok : j["tokens"]) {
        CHECK(tok["start_s"].get<double>() >= previous_end - 1e-9);  // in time order
        CHECK(tok["start_s"].get<double>() <= tok["end_s"].get<double>());
        previous_end = tok["end_s"].get<double>();
      }
    }
    if (j["type"] == "summary") {
      CHECK(j["transcripts"] == 1);
      CHECK(j["duration_s"].get<double>() > 1.0);
    }
    if (j["type"] == "error") CHECK(j["exit_code"] == 4);
  }

  // CSV: the transcribe columns, tokens as JSON in their cell.
  r = test::RunOssicle("transcribe " + inputs + " --model ctc.safetensors --format csv --out t.csv", tmp.path());
  CHECK(r.exit_code == 4);
  const std::string csv = test::ReadTextFile(tmp.path() / "t.csv");
  CHECK(csv.rfind("type,file,text,confidence,tokens,duration_s,warning,error,exit_code\ntranscript," + yes + ",", 0) ==
        0);
  CHECK_THAT(csv, Contains("\nerror,empty-data.wav,,,,,,empty-data.wav: contains no audio (0 frames),4\n"));

  // Resume of a complete output: nothing redone, same file.
  r = test::RunOssicle("transcribe " + inputs + " --model ctc.safetensors --format csv --out t.csv --resume",
                       tmp.path());
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Contains("resuming t.csv: 3 files already reported"));
  CHECK(test::ReadTextFile(tmp.path() / "t.csv") == csv);
}

TEST_CASE("transcribe --model: audio is read at the model's rate, --set takes one KEY=VALUE per occurrence", "[cli][batch]") {
  test::ScopedTempDir tmp;
  // The same golden weights as an 8 kHz model: the shipped graph reads audio at 16 kHz unless --model says
  // otherwise (it once failed with "sample-rate mismatch" for every 8 kHz model).
  RunResult r = test::RunOssicle("model import-torch " + std::string(OSSICLE_TEST_DATA_DIR) +
                                     "/models/lstm_bi_2layer.safetensors --set frame.sample_rate_hz=8000 --out "
                                     "ctc8k.safetensors --labels '<blank>,a,b,c,d,e,f,g,h,i,j,k'",
                                 tmp.path());
  REQUIRE(r.exit_code == 0);
  const std::string yes = std::string(OSSICLE_SOURCE_DIR) + "/test-audio/yes_en-us_16k.wav";
  // The input after --set is an input, not a second override.
  const RunResult model_rate = test::RunOssicle("transcribe --set transcript.beam_width=4 " + yes +
                                                    " --model ctc8k.safetensors",
                                                tmp.path());
  INFO(model_rate.err);
  REQUIRE(model_rate.exit_code == 0);
  const auto records = JsonLines(model_rate.out);
  REQUIRE(records.size() == 2);
  CHECK(records[0]["type"] == "transcript");
  CHECK(records[0]["file"] == yes);
  // Exactly what the graph gives with the rate set by hand.
  const RunResult by_hand = test::RunOssicle("transcribe " + yes +
                                                 " --model ctc8k.safetensors --set audio.sample_rate_hz=8000 "
                                                 "--set transcript.beam_width=4",
                                             tmp.path());
  CHECK(by_hand.exit_code == 0);
  CHECK(by_hand.out == model_rate.out);
  // An explicit --set still wins over the model's rate (and then the graph names the mismatch).
  const RunResult forced = test::RunOssicle("transcribe " + yes + " --model ctc8k.safetensors --set audio.sample_rate_hz=16000",
                                            tmp.path());
  CHECK(forced.exit_code != 0);
  CHECK_THAT(forced.err, Contains("sample-rate mismatch"));
  // A --set without KEY=VALUE after it is a usage error, not a silent swallow of the next option.
  const RunResult dangling = test::RunOssicle("transcribe " + yes + " --model ctc8k.safetensors --set", tmp.path());
  CHECK(dangling.exit_code != 0);
  CHECK_THAT(dangling.err, Contains("--set"));
}

// The shipped digits model transcribes with the ten digit words as its only words (its decoder.ctc_beam
// metadata, scripts/make-digits) with nothing but --model: on the espeak-ng digit strings of test-audio/ every
// transcript is digits of the file's name in the name's order, at least 7 of their 9 digits (the model shipped
// with this test: "five zero nine two", "seven two", "three four"; "one" is missed as in spot-cli-test.cc).
TEST_CASE("transcribe: the shipped digits model writes test-audio's digit strings", "[cli][batch][shipped]") {
  const std::string model = std::string(OSSICLE_SOURCE_DIR) + "/models/pretrained/digits.safetensors";
  const std::string audio = std::string(OSSICLE_SOURCE_DIR) + "/test-audio/";
  const std::map<std::string, std::vector<std::string>> strings = {
      {"five-zero-nine-two_en-gb-scotland_16k.wav", {"five", "zero", "nine", "two"}},
      {"seven-two_en-029_16k.wav", {"seven", "two"}},
      {"three-one-four_en-gb_16k.wav", {"three", "one", "four"}}};
  std::string inputs;
  for (const auto& [file, digits] : strings) inputs += " '" + audio + file + "'";
  const RunResult r = test::RunOssicle("transcribe --model '" + model + "'" + inputs);
  REQUIRE(r.exit_code == 0);
  size_t found = 0, transcripts = 0;
  for (const Json& j : JsonLines(r.out)) {
    if (j["type"] != "transcript") continue;
    ++transcripts;
    const std::string file = fs::path(j["file"].get<std::string>()).filename().string();
    INFO(file << ": " << j["text"]);
    const std::vector<std::string>& digits = strings.at(file);
    std::istringstream words(j["text"].get<std::string>());
    size_t next = 0;
    for (std::string w; words >> w;) {
      const auto at = std::find(digits.begin() + static_cast<std::ptrdiff_t>(next), digits.end(), w);
      CHECK(at != digits.end());  // a digit of the name, after the previous word's
      if (at == digits.end()) continue;
      next = static_cast<size_t>(at - digits.begin()) + 1;
      ++found;
    }
  }
  CHECK(transcripts >= 3);
  CHECK(found >= 7);
}

// A word list file given with --set wins over the words of the model's decoder metadata (the transcriber's 20
// words): it was once silently ignored, since the decoder takes inline words instead of the file.
TEST_CASE("transcribe: --set transcript.word_list_file replaces the words of the model's metadata",
          "[cli][batch][shipped]") {
  test::ScopedTempDir tmp;
  std::ofstream(tmp.path() / "words.txt") << "go\nleft\n";
  const std::string model = std::string(OSSICLE_SOURCE_DIR) + "/models/pretrained/transcriber.safetensors";
  const std::string audio = std::string(OSSICLE_SOURCE_DIR) + "/test-audio/";
  const RunResult r = test::RunOssicle("transcribe --model '" + model + "' --set transcript.word_list_file=words.txt '" +
                                           audio + "go-left_en-us_16k.wav' '" + audio + "yes_en-us_16k.wav'",
                                       tmp.path());
  REQUIRE(r.exit_code == 0);
  size_t transcripts = 0;
  for (const Json& j : JsonLines(r.out)) {
    if (j["type"] != "transcript") continue;
    ++transcripts;
    INFO(j["file"] << ": " << j["text"]);
    std::istringstream words(j["text"].get<std::string>());
    for (std::string w; words >> w;) CHECK((w == "go" || w == "left"));
  }
  CHECK(transcripts >= 1);
}

}  // namespace
}  // namespace ossicle
