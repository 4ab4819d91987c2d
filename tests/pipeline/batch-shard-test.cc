// Shards of a batch input list (pipeline/batch-inputs.h): --shard K/N parsing, the job-array environment
// (Slurm, Kubernetes), and the property that the shards of any N are disjoint and together the whole list.
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "features/errors.h"
#include "pipeline/batch-inputs.h"

namespace ossicle {
namespace {

using Catch::Matchers::Contains;

// A list like an expanded corpus: nested paths, and one error entry (a missing argument).
std::vector<BatchInput> SampleList(int n) {
  std::vector<BatchInput> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({"corpus/speaker-" + std::to_string(i % 7) + "/take-" + std::to_string(i) + ".wav", ""});
  }
  out.push_back({"missing.wav", "missing.wav: cannot open: No such file or directory"});
  return out;
}

EnvironmentLookup FakeEnvironment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("no ConfigError thrown");
  return "";
}

TEST_CASE("shards: the union of shards 1..N is the whole list, each entry in exactly one shard",
          "[batch][shard]") {
  for (const int m : {0, 1, 5, 40, 41}) {
    const std::vector<BatchInput> all = SampleList(m);
    for (const ShardBy by : {ShardBy::kOrder, ShardBy::kHash}) {
      for (const int64_t n : {1, 2, 3, 7}) {
        INFO("list of " << all.size() << ", N = " << n << ", by " << (by == ShardBy::kHash ? "hash" : "order"));
        std::map<std::string, int> seen;
        std::vector<BatchInput> concatenated;
        for (int64_t k = 1; k <= n; ++k) {
          Shard shard;
          shard.index = k;
          shard.count = n;
          shard.by = by;
          const std::vector<BatchInput> part = SelectShard(all, shard);
          for (const BatchInput& in : part) ++seen[in.path];
          concatenated.insert(concatenated.end(), part.begin(), part.end());
          if (by == ShardBy::kOrder) {
            // Contiguous blocks whose sizes differ by at most one.
            const size_t lo = all.size() / static_cast<size_t>(n);
            CHECK(part.size() >= lo);
            CHECK(part.size() <= lo + 1);
          }
          // Deterministic: the same call gives the same part.
          CHECK(SelectShard(all, shard) == part);
        }
        CHECK(seen.size() == all.size());
        for (const auto& [path, times] : seen) {
          INFO(path);
          CHECK(times == 1);
        }
        if (by == ShardBy::kOrder) {
          CHECK(concatenated == all);  // shards 1..N in order = the unsharded order
        } else {
          CHECK(concatenated.size() == all.size());
        }
      }
    }
  }
}

TEST_CASE("shards: order blocks are the documented index ranges", "[batch][shard]") {
  const std::vector<BatchInput> all = SampleList(9);  // 10 entries
  Shard shard = ParseShard("2/3");
  const std::vector<BatchInput> part = SelectShard(all, shard);
  // [floor(1 * 10 / 3), floor(2 * 10 / 3)) = [3, 6)
  REQUIRE(part.size() == 3);
  CHECK(part.front().path == all[3].path);
  CHECK(part.back().path == all[5].path);
  // More shards than entries: some shards are empty, none takes an entry twice.
  // 3 entries in 20 shards: shard K takes [floor(3 (K-1) / 20), floor(3 K / 20)), so shards 7, 14 and 20
  // take one entry each and the others none.
  const std::vector<BatchInput> three = SampleList(2);
  Shard many = ParseShard("1/20");
  for (int64_t k = 1; k <= 20; ++k) {
    many.index = k;
    const std::vector<BatchInput> got = SelectShard(three, many);
    INFO("shard " << k << "/20");
    if (k == 7 || k == 14 || k == 20) {
      REQUIRE(got.size() == 1);
      CHECK(got[0].path == three[k == 7 ? 0 : k == 14 ? 1 : 2].path);
    } else {
      CHECK(got.empty());
    }
  }
}

TEST_CASE("shards: the path hash is fixed (same value on every machine) and spreads paths", "[batch][shard]") {
  // FNV-1a 64 of "" is its offset basis 0xcbf29ce484222325; then the splitmix64 finaliser.
  uint64_t z = 0xcbf29ce484222325ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  CHECK(ShardHash("") == z);
  CHECK(ShardHash("a.wav") != ShardHash("b.wav"));
  // Golden values (from the Python below): a change of the function would move files between the shards of
  // runs already started.
  //   def h(s):
  //     M = (1 << 64) - 1; x = 14695981039346656037
  //     for b in s.encode(): x ^= b; x = (x * 1099511628211) & M
  //     x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M; x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
  //     return x ^ (x >> 31)
  CHECK(ShardHash("corpus/a.wav") == 0xe76c454a9ac6dfaaULL);
  CHECK(ShardHash("corpus/speaker-1/take-1.wav") == 0x1b39d5e23725bce8ULL);
  // 700 paths over 7 hash shards: each gets 100 +- 40 (a binomial's sd is ~9: far inside).
  Shard shard;
  shard.count = 7;
  shard.by = ShardBy::kHash;
  const std::vector<BatchInput> all = SampleList(700);
  for (int64_t k = 1; k <= 7; ++k) {
    shard.index = k;
    const size_t size = SelectShard(all, shard).size();
    INFO("shard " << k << " of 7: " << size);
    CHECK(size >= 60);
    CHECK(size <= 141);
  }
  // A file keeps its hash shard when other files are added to the list.
  shard.index = 3;
  std::set<std::string> before, after;
  for (const BatchInput& in : SelectShard(SampleList(100), shard)) before.insert(in.path);
  for (const BatchInput& in : SelectShard(SampleList(300), shard)) after.insert(in.path);
  for (const std::string& p : before) CHECK(after.count(p) == 1);
}

TEST_CASE("shards: --shard K/N parsing", "[batch][shard]") {
  const Shard s = ParseShard("3/7");
  CHECK(s.index == 3);
  CHECK(s.count == 7);
  CHECK(s.by == ShardBy::kOrder);
  CHECK(s.Name() == "3/7");
  CHECK(s.origin == "--shard 3/7");
  CHECK(ParseShard("1/1").Name() == "1/1");
  for (const std::string bad : {"0/4", "5/4", "4", "/4", "1/", "1/0", "-1/4", "1/-4", "a/b", "1/4/2", " 1/4",
                                "1/4 ", "+1/4", "1.5/4", "1/1000001", "99999999999999999999/1"}) {
    INFO(bad);
    const std::string message = ErrorOf([&] { ParseShard(bad); });
    CHECK_THAT(message, Contains("--shard '" + bad + "'"));
    CHECK_THAT(message, Contains("expected K/N with 1 <= K <= N"));
  }
}

TEST_CASE("shards: a Slurm job array's task gives its shard (SLURM_ARRAY_TASK_MIN, STEP honoured)",
          "[batch][shard][env]") {
  // --array=0-3
  Shard s = ShardFromEnvironment(FakeEnvironment({{"SLURM_ARRAY_TASK_ID", "0"},
                                                  {"SLURM_ARRAY_TASK_COUNT", "4"},
                                                  {"SLURM_ARRAY_TASK_MIN", "0"},
                                                  {"SLURM_ARRAY_TASK_MAX", "3"},
                                                  {"SLURM_ARRAY_TASK_STEP", "1"}}),
                                 std::nullopt);
  CHECK(s.Name() == "1/4");
  CHECK_THAT(s.origin, Contains("SLURM_ARRAY_TASK_ID=0"));
  // --array=1-4: task 4 is the last shard.
  s = ShardFromEnvironment(FakeEnvironment({{"SLURM_ARRAY_TASK_ID", "4"},
                                            {"SLURM_ARRAY_TASK_COUNT", "4"},
                                            {"SLURM_ARRAY_TASK_MIN", "1"},
                                            {"SLURM_ARRAY_TASK_MAX", "4"}}),
                           std::nullopt);
  CHECK(s.Name() == "4/4");
  // --array=100-130:10 (ids 100, 110, 120, 130), and a matching --shard-count.
  s = ShardFromEnvironment(FakeEnvironment({{"SLURM_ARRAY_TASK_ID", "120"},
                                            {"SLURM_ARRAY_TASK_COUNT", "4"},
                                            {"SLURM_ARRAY_TASK_MIN", "100"},
                                            {"SLURM_ARRAY_TASK_MAX", "130"},
                                            {"SLURM_ARRAY_TASK_STEP", "10"}}),
                           4);
  CHECK(s.Name() == "3/4");
  // Slurm wins over a Kubernetes index also present.
  s = ShardFromEnvironment(FakeEnvironment({{"SLURM_ARRAY_TASK_ID", "1"},
                                            {"SLURM_ARRAY_TASK_COUNT", "2"},
                                            {"SLURM_ARRAY_TASK_MIN", "0"},
                                            {"JOB_COMPLETION_INDEX", "0"}}),
                           std::nullopt);
  CHECK(s.Name() == "2/2");
}

TEST_CASE("shards: a Kubernetes indexed Job's JOB_COMPLETION_INDEX with --shard-count", "[batch][shard][env]") {
  const Shard s = ShardFromEnvironment(FakeEnvironment({{"JOB_COMPLETION_INDEX", "2"}}), 5);
  CHECK(s.Name() == "3/5");
  CHECK_THAT(s.origin, Contains("JOB_COMPLETION_INDEX=2"));
  CHECK_THAT(ErrorOf([] { ShardFromEnvironment(FakeEnvironment({{"JOB_COMPLETION_INDEX", "2"}}), std::nullopt); }),
             Contains("JOB_COMPLETION_INDEX=2 (a Kubernetes indexed Job) needs the number of shards: add "
                      "--shard-count N"));
  CHECK_THAT(ErrorOf([] { ShardFromEnvironment(FakeEnvironment({{"JOB_COMPLETION_INDEX", "5"}}), 5); }),
             Contains("JOB_COMPLETION_INDEX=5: expected 0 to 4 (--shard-count 5)"));
}

TEST_CASE("shards: unusable job-array variables are errors naming the variable", "[batch][shard][env]") {
  using Env = std::map<std::string, std::string>;
  const Env slurm{{"SLURM_ARRAY_TASK_ID", "2"},
                  {"SLURM_ARRAY_TASK_COUNT", "4"},
                  {"SLURM_ARRAY_TASK_MIN", "0"},
                  {"SLURM_ARRAY_TASK_MAX", "3"}};
  auto with = [&](const std::string& name, const std::optional<std::string>& value) {
    Env env = slurm;
    if (value) {
      env[name] = *value;
    } else {
      env.erase(name);
    }
    return FakeEnvironment(env);
  };
  auto error = [](const EnvironmentLookup& env, std::optional<int64_t> count = std::nullopt) {
    return ErrorOf([&] { ShardFromEnvironment(env, count); });
  };
  CHECK(error(FakeEnvironment({})) ==
        "--shard auto: no job array in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor "
        "JOB_COMPLETION_INDEX (a Kubernetes indexed Job) is set; give --shard K/N instead");
  CHECK(error(with("SLURM_ARRAY_TASK_ID", "two")) ==
        "--shard auto: SLURM_ARRAY_TASK_ID='two': expected a non-negative integer");
  CHECK(error(with("SLURM_ARRAY_TASK_ID", "")) == "--shard auto: SLURM_ARRAY_TASK_ID='': expected a non-negative integer");
  CHECK(error(with("SLURM_ARRAY_TASK_COUNT", "-4")) ==
        "--shard auto: SLURM_ARRAY_TASK_COUNT='-4': expected a non-negative integer");
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_COUNT", std::nullopt)), Contains("SLURM_ARRAY_TASK_COUNT is not set"));
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_MIN", std::nullopt)), Contains("SLURM_ARRAY_TASK_MIN is not set"));
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_COUNT", "0")), Contains("SLURM_ARRAY_TASK_COUNT expected 1 to"));
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_STEP", "0")), Contains("SLURM_ARRAY_TASK_STEP expected >= 1"));
  // A task id outside the array.
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_ID", "7")), Contains("SLURM_ARRAY_TASK_ID=7 (SLURM_ARRAY_TASK_MIN=0"));
  CHECK_THAT(error(with("SLURM_ARRAY_TASK_ID", "7")), Contains("the task id is not one of the array's 4 ids"));
  // --array=1,3,8: min 1, max 8, count 3 cannot be one stepped range.
  CHECK_THAT(error(FakeEnvironment({{"SLURM_ARRAY_TASK_ID", "3"},
                                    {"SLURM_ARRAY_TASK_COUNT", "3"},
                                    {"SLURM_ARRAY_TASK_MIN", "1"},
                                    {"SLURM_ARRAY_TASK_MAX", "8"},
                                    {"SLURM_ARRAY_TASK_STEP", "1"}})),
             Contains("not one evenly stepped range"));
  // --shard-count that disagrees with the array.
  CHECK_THAT(error(FakeEnvironment(slurm), 3),
             Contains("--shard-count 3 but the Slurm array has SLURM_ARRAY_TASK_COUNT=4 tasks"));
}

}  // namespace
}  // namespace ossicle
