// The CI-sized soak (issue 7): 2 minutes of audio through the live keyword graph by bench/soak (the full run
// is `scripts/soak`, 2 hours): peak RSS flat within 5% after the first 40 s, no overruns, and the live
// hits (10 ms blocks, one long session) equal the batch hits (65536-frame blocks) exactly.
// Needs the soak program, built with the benchmarks (OSSICLE_BUILD_BENCHMARKS); skipped with a warning without.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "apps/run-ossicle.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("soak: 2 minutes of live keyword spotting, flat memory, live hits == batch hits", "[cli][soak]") {
#ifndef OSSICLE_SOAK_BINARY
  WARN("bench/soak not built (OSSICLE_BUILD_BENCHMARKS=OFF): soak test skipped");
#else
  test::ScopedTempDir tmp("ossicle-soak-test");
  const std::filesystem::path out = tmp.path() / "soak.txt";
  const std::string cmd = std::string("'") + OSSICLE_SOAK_BINARY + "' --minutes 2 --report-every-s 30 >'" +
                          out.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string text = test::ReadTextFile(out);
  INFO(text);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(text, Contains("hits PASS (live == batch)"));
  CHECK_THAT(text, Contains("overruns PASS (0)"));
  CHECK_THAT(text, Contains("live pass: 120.0 s of audio"));
#endif
}

}  // namespace
}  // namespace ossicle
