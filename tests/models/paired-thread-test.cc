// PairedThread: both tasks run (the second on another thread), errors come back in a fixed order, and the
// worker serves many calls.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <thread>
#include <vector>

#include "models/paired-thread.h"

namespace ossicle {
namespace {

TEST_CASE("paired thread runs both tasks, the second elsewhere, many times", "[models][threads]") {
  PairedThread pair;
  std::vector<int> out(2000, 0);
  std::thread::id here_id, there_id;
  for (int round = 1; round <= 200; ++round) {
    pair.Run(
        [&] {
          here_id = std::this_thread::get_id();
          for (size_t i = 0; i < 1000; ++i) out[i] += round;
        },
        [&] {
          there_id = std::this_thread::get_id();
          for (size_t i = 1000; i < 2000; ++i) out[i] += 2 * round;
        });
  }
  CHECK(here_id == std::this_thread::get_id());
  CHECK(there_id != here_id);
  CHECK(out[0] == 200 * 201 / 2);
  CHECK(out[999] == 200 * 201 / 2);
  CHECK(out[1000] == 200 * 201);
  CHECK(out[1999] == 200 * 201);
}

TEST_CASE("paired thread rethrows the first task's error, else the second's, after both ran",
          "[models][threads]") {
  PairedThread pair;
  bool other_ran = false;
  auto fail = [](const char* what) { return [what] { throw std::runtime_error(what); }; };
  CHECK_THROWS_WITH(pair.Run(fail("here"), [&] { other_ran = true; }), "here");
  CHECK(other_ran);
  other_ran = false;
  CHECK_THROWS_WITH(pair.Run([&] { other_ran = true; }, fail("there")), "there");
  CHECK(other_ran);
  CHECK_THROWS_WITH(pair.Run(fail("first"), fail("second")), "first");
  // Still usable after errors.
  int a = 0, b = 0;
  pair.Run([&] { a = 1; }, [&] { b = 2; });
  CHECK(a + b == 3);
}

}  // namespace
}  // namespace ossicle
