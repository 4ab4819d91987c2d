// End-to-end tests of sharded batch runs and `ossicle merge` through the real binary, on test-audio/:
// shards K/N (by order and by hash) reported in their summaries, merged back to the unsharded output; the
// job-array environment (Slurm, Kubernetes) and its errors; merge's missing / duplicated / absent-shard
// reports and exit codes; CSV.
//
// The graph only reads the audio (summary records with the duration), so the tests check the sharding and
// merging machinery without a trained model.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/run-ossicle.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Json = nlohmann::json;
using test::ReadTextFile;
using test::RunResult;
using test::Quoted;

const std::string kAudio = std::string(OSSICLE_SOURCE_DIR) + "/test-audio";


using test::JsonLines;

using EnvVars = std::map<std::string, std::optional<std::string>>;

// Sets (or, with nullopt, unsets) environment variables for the scope; the job-array ones are cleared first
// so that a test run inside a real Slurm job sees only what the test sets.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const EnvVars& vars) {
    for (const char* name : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                             "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"}) {
      Set(name, std::nullopt);
    }
    for (const auto& [name, value] : vars) Set(name, value);
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  void Set(const std::string& name, const std::optional<std::string>& value) {
    if (saved_.count(name) == 0) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old == nullptr ? std::nullopt : std::optional<std::string>(old);
    }
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

struct Fixture {
  test::ScopedTempDir tmp{"ossicle-shard-cli"};
  fs::path graph = tmp.path() / "source-graph.yaml";
  ScopedEnvironment env{EnvVars{}};

  Fixture() {
    std::ofstream(graph) << "description: read the audio only\nstages:\n"
                         << "  - name: audio\n    type: source.file\n";
  }
  RunResult Spot(const std::string& args) {
    return test::RunOssicle("spot " + Quoted(kAudio) + " --graph " + Quoted(graph) + " " + args, tmp.path());
  }
  RunResult Merge(const std::string& args) { return test::RunOssicle("merge " + args, tmp.path()); }
};

// The audio files of test-audio/ as `spot` names them, in its order.
std::vector<std::string> Files(const std::vector<Json>& records) {
  std::vector<std::string> out;
  for (const Json& r : records) {
    if (r["type"] == "summary" || r["type"] == "error") out.push_back(r["file"].get<std::string>());
  }
  return out;
}

std::vector<Json> WithoutShard(std::vector<Json> records) {
  for (Json& r : records) r.erase("shard");
  return records;
}

TEST_CASE("shard: shards K/N of test-audio/ are disjoint, say which shard, and merge back to the whole run",
          "[cli][shard]") {
  Fixture f;
  const RunResult whole = f.Spot("--out all.jsonl");
  REQUIRE(whole.exit_code == 0);
  const std::vector<Json> all = JsonLines(ReadTextFile(f.tmp.path() / "all.jsonl"));
  const std::vector<std::string> files = Files(all);
  REQUIRE(files.size() >= 15);  // every audio file of test-audio/ (README, make.sh, manifest.tsv are not audio)

  for (const std::string by : {"order", "hash"}) {
    for (const int n : {1, 2, 3, 7}) {
      INFO("--shard-by " << by << ", N = " << n);
      std::string shard_paths;
      std::multiset<std::string> reported;
      std::vector<std::string> concatenated;
      for (int k = 1; k <= n; ++k) {
        const std::string name = by + "-" + std::to_string(k) + "-of-" + std::to_string(n) + ".jsonl";
        const std::string shard = std::to_string(k) + "/" + std::to_string(n);
        const RunResult r = f.Spot("--shard " + shard + " --shard-by " + by + " --out " + name);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.err, Contains("shard " + shard + " by " + by + " (--shard " + shard + "): "));
        CHECK_THAT(r.err, Contains(" of " + std::to_string(files.size()) + " inputs"));
        const std::vector<Json> records = JsonLines(ReadTextFile(f.tmp.path() / name));
        for (const Json& rec : records) {
          CHECK(rec["type"] == "summary");
          CHECK(rec["shard"] == shard);
        }
        for (const std::string& file : Files(records)) {
          reported.insert(file);
          concatenated.push_back(file);
        }
        if (by == "order") {
          // Contiguous blocks: sizes differ by at most one.
          CHECK(records.size() >= files.size() / static_cast<size_t>(n));
          CHECK(records.size() <= files.size() / static_cast<size_t>(n) + 1);
        }
        shard_paths += " " + name;
      }
      CHECK(reported == std::multiset<std::string>(files.begin(), files.end()));  // all, each once
      if (by == "order") CHECK(concatenated == files);

      // merge with the input list: the whole run's records, in its order.
      const std::string merged = "merged-" + by + "-" + std::to_string(n) + ".jsonl";
      const RunResult m = f.Merge(merged + shard_paths + " --inputs " + Quoted(kAudio));
      REQUIRE(m.exit_code == 0);
      CHECK_THAT(m.err, Contains("merged " + std::to_string(files.size()) + " files (0 failed) from " +
                                 std::to_string(n) + " shard output"));
      CHECK_THAT(m.err, Contains("0 missing; 0 duplicated -> " + merged));
      CHECK(WithoutShard(JsonLines(ReadTextFile(f.tmp.path() / merged))) == all);
      CHECK_FALSE(fs::exists(f.tmp.path() / (merged + ".partial")));
    }
  }
}

TEST_CASE("shard: merge reports missing and duplicated files with exit 8, unless allowed", "[cli][shard][merge]") {
  Fixture f;
  for (int k = 1; k <= 3; ++k) {
    REQUIRE(f.Spot("--shard " + std::to_string(k) + "/3 --out s" + std::to_string(k) + ".jsonl").exit_code == 0);
  }
  const std::vector<std::string> second = Files(JsonLines(ReadTextFile(f.tmp.path() / "s2.jsonl")));
  REQUIRE(!second.empty());

  // Shard 2 left out: its files are missing.
  RunResult r = f.Merge("m.jsonl s1.jsonl s3.jsonl --inputs " + Quoted(kAudio));
  CHECK(r.exit_code == 8);
  for (const std::string& file : second) CHECK_THAT(r.err, Contains("missing: " + file + "\n"));
  CHECK_THAT(r.err, Contains(std::to_string(second.size()) + " missing; 0 duplicated"));
  // The output is still written (what the shards have, in input order).
  CHECK(JsonLines(ReadTextFile(f.tmp.path() / "m.jsonl")).size() ==
        JsonLines(ReadTextFile(f.tmp.path() / "s1.jsonl")).size() +
            JsonLines(ReadTextFile(f.tmp.path() / "s3.jsonl")).size());
  CHECK(f.Merge("m.jsonl s1.jsonl s3.jsonl --allow-missing --inputs " + Quoted(kAudio)).exit_code == 0);

  // Shard 2 given twice (a task run twice): duplicated, first kept.
  r = f.Merge("d.jsonl s1.jsonl s2.jsonl s3.jsonl s2.jsonl");
  CHECK(r.exit_code == 8);
  CHECK_THAT(r.err, Contains("duplicated: " + second[0] + " (in s2.jsonl and s2.jsonl)"));
  CHECK_THAT(r.err, Contains("; " + std::to_string(second.size()) + " duplicated"));
  CHECK(Files(JsonLines(ReadTextFile(f.tmp.path() / "d.jsonl"))).size() ==
        Files(JsonLines(ReadTextFile(f.tmp.path() / "s1.jsonl"))).size() + second.size() +
            Files(JsonLines(ReadTextFile(f.tmp.path() / "s3.jsonl"))).size());
  CHECK(f.Merge("d.jsonl s1.jsonl s2.jsonl s3.jsonl s2.jsonl --allow-duplicates").exit_code == 0);

  // An input list file naming one more file than the shards processed.
  {
    std::ofstream list(f.tmp.path() / "list.txt");
    list << "# inputs\n" << kAudio << "\n\n" << kAudio << "/not-run.wav\n";
  }
  r = f.Merge("l.jsonl s1.jsonl s2.jsonl s3.jsonl --input-list list.txt");
  CHECK(r.exit_code == 8);
  CHECK_THAT(r.err, Contains("missing: " + kAudio + "/not-run.wav\n"));
  CHECK_THAT(r.err, Contains("; 1 missing; 0 duplicated"));

  // A shard output that does not exist: exit 7 naming it and the .partial a stopped task leaves.
  std::ofstream(f.tmp.path() / "s4.jsonl.partial") << "";
  r = f.Merge("x.jsonl s1.jsonl s4.jsonl");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("error: s4.jsonl: cannot open: No such file or directory (s4.jsonl.partial exists"));
  CHECK_FALSE(fs::exists(f.tmp.path() / "x.jsonl"));
  r = f.Merge("x.jsonl s1.jsonl s4.jsonl --allow-missing");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("warning: s4.jsonl: no such shard output"));
  CHECK_THAT(r.err, Contains("from 1 shard output (1 absent)"));
}

TEST_CASE("shard: merge refuses shards that are not batch outputs, or of different formats", "[cli][shard][merge]") {
  Fixture f;
  REQUIRE(f.Spot("--shard 1/2 --out a.jsonl").exit_code == 0);
  REQUIRE(f.Spot("--shard 2/2 --out b.csv --format csv").exit_code == 0);
  RunResult r = f.Merge("m a.jsonl b.csv");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("error: b.csv: CSV, but a.jsonl is JSON lines; merge outputs of one format"));
  std::ofstream(f.tmp.path() / "junk.jsonl") << "{\"type\":\"summary\",\"file\":\"a.wav\"}\nnot json\n";
  r = f.Merge("m junk.jsonl");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("error: junk.jsonl:2: not a JSON record with \"type\" and \"file\""));
  std::ofstream(f.tmp.path() / "junk.csv") << "name,score\nx,1\n";
  r = f.Merge("m junk.csv");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("error: junk.csv:1: a CSV header without \"type\" and \"file\" columns"));
  CHECK_FALSE(fs::exists(f.tmp.path() / "m"));
}

TEST_CASE("shard: CSV shards merge under one header, with the shard column", "[cli][shard][merge]") {
  Fixture f;
  REQUIRE(f.Spot("--out all.csv --format csv").exit_code == 0);
  for (int k = 1; k <= 2; ++k) {
    REQUIRE(f.Spot("--shard " + std::to_string(k) + "/2 --shard-by hash --format csv --out s" + std::to_string(k) +
                   ".csv")
                .exit_code == 0);
  }
  const RunResult r = f.Merge("m.csv s2.csv s1.csv --inputs " + Quoted(kAudio));
  REQUIRE(r.exit_code == 0);
  const std::string merged = ReadTextFile(f.tmp.path() / "m.csv");
  const std::string whole = ReadTextFile(f.tmp.path() / "all.csv");
  // Each merged row is the unsharded row plus its shard cell.
  std::istringstream m(merged), w(whole);
  std::string mline, wline;
  int rows = 0;
  while (std::getline(w, wline)) {
    REQUIRE(std::getline(m, mline));
    if (rows == 0) {
      CHECK(mline == wline + ",shard");
    } else {
      CHECK_THAT(mline, Contains(wline + ",") );
      CHECK((mline.ends_with(",1/2") || mline.ends_with(",2/2")));
    }
    ++rows;
  }
  CHECK_FALSE(std::getline(m, mline));
  CHECK(rows >= 16);
}

TEST_CASE("shard: error records of a sharded run say which shard made them too", "[cli][shard]") {
  Fixture f;
  const fs::path dir = f.tmp.path() / "mixed";
  fs::create_directories(dir);
  fs::copy_file(kAudio + "/stop_en_16k.wav", dir / "a-good.wav");
  std::ofstream(dir / "b-broken.wav") << "not audio at all\n";
  const RunResult r = test::RunOssicle("spot " + Quoted(dir) + " --graph " + Quoted(f.graph) + " --shard 1/1", f.tmp.path());
  CHECK(r.exit_code == 4);  // the broken file's audio error; the run goes on past it
  const std::vector<Json> records = JsonLines(r.out);
  REQUIRE(records.size() == 2);
  CHECK(records[0]["type"] == "summary");
  CHECK(records[0]["shard"] == "1/1");
  CHECK(records[1]["type"] == "error");
  CHECK_THAT(records[1]["file"].get<std::string>(), Contains("b-broken.wav"));
  CHECK(records[1]["shard"] == "1/1");
}

TEST_CASE("shard: --shard auto reads a Slurm job array or a Kubernetes indexed Job", "[cli][shard][env]") {
  Fixture f;
  const std::vector<std::string> files = Files(JsonLines(f.Spot("").out));
  std::multiset<std::string> reported;
  // --array=1-3: tasks 1, 2, 3 (SLURM_ARRAY_TASK_MIN = 1).
  for (int id = 1; id <= 3; ++id) {
    ScopedEnvironment env(EnvVars{{"SLURM_ARRAY_TASK_ID", std::to_string(id)},
                           {"SLURM_ARRAY_TASK_COUNT", "3"},
                           {"SLURM_ARRAY_TASK_MIN", "1"},
                           {"SLURM_ARRAY_TASK_MAX", "3"},
                           {"SLURM_ARRAY_TASK_STEP", "1"}});
    const RunResult r = f.Spot(id == 2 ? "--shard-from-env" : "--shard auto");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Contains("shard " + std::to_string(id) + "/3 by order (SLURM_ARRAY_TASK_ID=" +
                               std::to_string(id) + " (SLURM_ARRAY_TASK_MIN=1"));
    for (const Json& rec : JsonLines(r.out)) {
      CHECK(rec["shard"] == std::to_string(id) + "/3");
      reported.insert(rec["file"].get<std::string>());
    }
  }
  CHECK(reported == std::multiset<std::string>(files.begin(), files.end()));

  {
    ScopedEnvironment env(EnvVars{{"JOB_COMPLETION_INDEX", "0"}});
    RunResult r = f.Spot("--shard auto --shard-count 2 --shard-by hash");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Contains("shard 1/2 by hash (JOB_COMPLETION_INDEX=0, --shard-count 2)"));
    r = f.Spot("--shard auto");
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Contains("error: --shard auto: JOB_COMPLETION_INDEX=0 (a Kubernetes indexed Job) needs the "
                               "number of shards: add --shard-count N"));
    CHECK(r.out.empty());
  }
  {
    ScopedEnvironment env(EnvVars{{"SLURM_ARRAY_TASK_ID", "x1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}, {"SLURM_ARRAY_TASK_MIN", "0"}});
    const RunResult r = f.Spot("--shard auto --out never.jsonl");
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Contains("error: --shard auto: SLURM_ARRAY_TASK_ID='x1': expected a non-negative integer"));
    CHECK_FALSE(fs::exists(f.tmp.path() / "never.jsonl"));
    CHECK_FALSE(fs::exists(f.tmp.path() / "never.jsonl.partial"));
  }
  const RunResult none = f.Spot("--shard auto");
  CHECK(none.exit_code == 3);
  CHECK_THAT(none.err, Contains("error: --shard auto: no job array in the environment"));
}

TEST_CASE("shard: bad --shard options are usage errors naming the option", "[cli][shard]") {
  Fixture f;
  RunResult r = f.Spot("--shard 5/4");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("--shard '5/4': expected K/N with 1 <= K <= N"));
  r = f.Spot("--shard 0/4");
  CHECK(r.exit_code == 2);
  r = f.Spot("--shard 1/4 --shard-by size");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("--shard-by"));
  r = f.Spot("--shard 1/4 --shard-from-env");
  CHECK(r.exit_code == 2);
  r = f.Spot("--shard 1/4 --shard-count 4");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("error: --shard-count is only for --shard auto"));
  r = f.Spot("--shard-by hash");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("error: --shard-by hash needs --shard K/N or --shard auto"));
}

}  // namespace
}  // namespace ossicle
