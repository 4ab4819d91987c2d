// End-to-end tests of `ossicle run GRAPH.yaml`: what it prints and writes, and its exit codes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/run-ossicle.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/npy-file.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using test::JsonLines;

TEST_CASE("ossicle run: the feature-dump graph writes the features of `ossicle features`", "[cli][run]") {
  test::ScopedTempDir tmp;
  const std::string wav = test::TestAudio("yes_en-us_16k.wav");
  const std::string graph = std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/feature-dump.yaml";
  test::RunResult r = test::RunOssicle("run " + graph + " " + wav + " --set npy.dir=graph", tmp.path());
  REQUIRE(r.exit_code == 0);
  const auto records = JsonLines(r.out);  // no records sink: JSON lines on standard output
  REQUIRE(records.size() == 1);
  CHECK(records[0]["type"] == "summary");
  CHECK(records[0]["duration_s"].get<double>() == Approx(1.11425));
  r = test::RunOssicle("features " + wav + " --preset kaldi-fbank --out direct.npy", tmp.path());
  REQUIRE(r.exit_code == 0);
  const NpyMatrix a = ReadNpy((tmp.path() / "graph" / "yes_en-us_16k.npy").string());
  const NpyMatrix b = ReadNpy((tmp.path() / "direct.npy").string());
  CHECK(a.shape == b.shape);
  CHECK(a.data == b.data);
}

TEST_CASE("ossicle run: keyword graph, a bad input gives an error record and exit 4", "[cli][run]") {
  test::ScopedTempDir tmp;
  test::WriteTestModel(tmp.path(), "kws.safetensors", FeatureConfig::KaldiFbank(40), {"_silence_", "yes", "no"});
  const std::string graph = std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/batch-keywords.yaml";
  const std::string good = test::TestAudio("go-left_en-us_16k.wav");
  test::RunResult r = test::RunOssicle("run " + graph + " missing.wav " + good +
                                           " --set model.path=kws.safetensors --set keywords.threshold=0.3",
                                       tmp.path());
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Contains("error: missing.wav: cannot open"));
  const auto records = JsonLines(r.out);
  REQUIRE(records.size() >= 2);
  CHECK(records.front() == nlohmann::json{{"type", "error"}, {"file", "missing.wav"},
                                          {"error", records.front()["error"]}, {"exit_code", 4}});
  CHECK(records.back()["type"] == "summary");
  CHECK(records.back()["file"] == good);
  CHECK(records.back()["hits"] == static_cast<int>(records.size()) - 2);

  r = test::RunOssicle("run " + graph + " --check --set model.path=kws.safetensors", tmp.path());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("5 stages, valid") && Contains("model (model.rnn) <- features"));
}

TEST_CASE("ossicle run: graph errors exit 3 with the file position", "[cli][run][errors]") {
  test::ScopedTempDir tmp;
  const std::string graph = std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/batch-keywords.yaml";
  test::RunResult r = test::RunOssicle("run " + graph + " x.wav", tmp.path());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("batch-keywords.yaml:21:13: model.path = \"\"; expected the model file to run"));
  r = test::RunOssicle("run " + graph + " x.wav --set modle.path=m", tmp.path());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("no stage named 'modle'") && Contains("(did you mean 'model'?)"));
  CHECK(test::RunOssicle("run missing-graph.yaml", tmp.path()).exit_code == 7);
}

}  // namespace
}  // namespace ossicle
