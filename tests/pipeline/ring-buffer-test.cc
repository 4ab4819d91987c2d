#include "pipeline/ring-buffer.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace ossicle {
namespace {

std::vector<int> Iota(int first, int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST_CASE("SpscRing refuses a zero capacity", "[ring]") {
  CHECK_THROWS_AS(SpscRing<float>(0), std::invalid_argument);
}

TEST_CASE("SpscRing returns values in order and refuses what does not fit", "[ring]") {
  SpscRing<int> ring(5);
  CHECK(ring.Capacity() == 5);
  CHECK(ring.Size() == 0);
  CHECK(ring.Free() == 5);

  const std::vector<int> a = Iota(1, 3);
  CHECK(ring.Write(a) == 3);
  CHECK(ring.Size() == 3);
  CHECK(ring.Free() == 2);

  // Only two more fit: the longest prefix is taken, nothing already queued is overwritten.
  const std::vector<int> b = Iota(4, 4);
  CHECK(ring.Write(b) == 2);
  CHECK(ring.Free() == 0);
  CHECK(ring.Write(b) == 0);

  std::vector<int> out(10, -1);
  CHECK(ring.Read(std::span<int>(out).first(2)) == 2);
  CHECK(out[0] == 1);
  CHECK(out[1] == 2);
  // Wraps around the end of the storage.
  const std::vector<int> c = Iota(100, 2);
  CHECK(ring.Write(c) == 2);
  std::fill(out.begin(), out.end(), -1);
  CHECK(ring.Read(out) == 5);
  CHECK(std::vector<int>(out.begin(), out.begin() + 5) == std::vector<int>{3, 4, 5, 100, 101});
  CHECK(ring.Read(out) == 0);
  CHECK(ring.TotalWritten() == 7);
  CHECK(ring.TotalRead() == 7);
}

TEST_CASE("SpscRing keeps whole frames when capacity, writes and reads are multiples of the channels",
          "[ring]") {
  constexpr size_t kChannels = 3;
  SpscRing<float> ring(7 * kChannels);
  std::mt19937 rng(11);
  std::vector<float> frame_values(40 * kChannels);
  std::vector<float> out(40 * kChannels);
  for (int step = 0; step < 500; ++step) {
    const size_t frames = std::uniform_int_distribution<size_t>(0, 9)(rng);
    const size_t written = ring.Write(std::span<const float>(frame_values).first(frames * kChannels));
    CHECK(written % kChannels == 0);
    const size_t want = std::uniform_int_distribution<size_t>(0, 9)(rng);
    const size_t got = ring.Read(std::span<float>(out).first(want * kChannels));
    CHECK(got % kChannels == 0);
  }
}

// One producer and one consumer thread with random block sizes: every value arrives once, in order, and
// (since the producer retries until all is written) nothing is lost. Fixed seeds; the interleaving varies
// from run to run, the property must hold for all of them.
TEST_CASE("SpscRing passes a long sequence between two threads intact", "[ring][threads]") {
  for (size_t capacity : {size_t{1}, size_t{7}, size_t{64}, size_t{1000}}) {
    // A tiny ring hands over a value or a few per thread switch: fewer values keep it fast.
    const uint32_t kCount = capacity < 64 ? 20'000 : 400'000;
    SpscRing<uint32_t> ring(capacity);
    std::thread producer([&] {
      std::mt19937 rng(1);
      std::vector<uint32_t> block(300);
      uint32_t next = 0;
      while (next < kCount) {
        const size_t n = std::min<size_t>(std::uniform_int_distribution<size_t>(1, 300)(rng), kCount - next);
        for (size_t i = 0; i < n; ++i) block[i] = next + static_cast<uint32_t>(i);
        size_t done = 0;
        while (done < n) {
          const size_t w = ring.Write(std::span<const uint32_t>(block).subspan(done, n - done));
          done += w;
          if (w == 0) std::this_thread::yield();
        }
        next += static_cast<uint32_t>(n);
      }
    });
    std::mt19937 rng(2);
    std::vector<uint32_t> block(300);
    uint32_t expected = 0;
    uint64_t mismatches = 0;
    while (expected < kCount) {
      const size_t want = std::uniform_int_distribution<size_t>(1, 300)(rng);
      const size_t got = ring.Read(std::span<uint32_t>(block).first(want));
      for (size_t i = 0; i < got; ++i) mismatches += block[i] != expected + i ? 1 : 0;
      expected += static_cast<uint32_t>(got);
      if (got == 0) std::this_thread::yield();
    }
    producer.join();
    INFO("capacity " << capacity);
    CHECK(mismatches == 0);
    CHECK(expected == kCount);
    CHECK(ring.Size() == 0);
    CHECK(ring.TotalWritten() == kCount);
  }
}

}  // namespace
}  // namespace ossicle
