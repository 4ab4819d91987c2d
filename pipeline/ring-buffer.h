// A lock-free single-producer / single-consumer ring of trivially copyable values (audio samples).
//
//   ossicle::SpscRing<float> ring(32000);          // allocates once, here
//   // producer thread (e.g. an audio callback): never allocates, locks or throws
//   size_t written = ring.Write(block);            // < block.size() when the ring is full
//   // consumer thread
//   size_t got = ring.Read(out_span);              // up to out_span.size() values, oldest first
//
// Contract:
//   * Exactly one thread calls Write() and exactly one (other or the same) thread calls Read(); the two may
//     run concurrently. Size(), Free() and Capacity() may be called from either side (Size() is exact for
//     the consumer, a lower bound of what it can read; Free() is exact for the producer).
//   * Write() and Read() are wait-free: a bounded number of atomic loads/stores and at most two memcpy
//     calls. Neither allocates, locks, logs nor throws, so Write() is safe inside a real-time callback.
//   * A full ring refuses what does not fit (Write() returns how many values it took); it never overwrites
//     values the consumer has not read, so the consumer sees a prefix of the stream, then later blocks.
//   * Positions are 64-bit counters that never wrap in practice (2^64 values at 768 kHz is 760 000 years);
//     TotalWritten() / TotalRead() expose them.
//   * Capacity is any value >= 1 (not rounded to a power of two), so a ring holding whole audio frames of
//     C channels has a capacity that is a multiple of C; when the producer writes and the consumer reads
//     multiples of C, every partial Write() also takes a multiple of C.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace ossicle {

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "SpscRing copies values with memcpy");

 public:
  // Allocates `capacity` values (throws std::invalid_argument for 0, std::bad_alloc when out of memory).
  explicit SpscRing(size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("SpscRing capacity must be >= 1");
    data_ = std::make_unique<T[]>(capacity);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t Capacity() const { return capacity_; }

  // Producer side. Copies the longest prefix of `values` that fits; returns its length.
  size_t Write(std::span<const T> values) {
    const uint64_t write = write_pos_.load(std::memory_order_relaxed);  // only this thread stores it
    const uint64_t read = read_pos_.load(std::memory_order_acquire);    // slots before it are free again
    const size_t free = capacity_ - static_cast<size_t>(write - read);
    const size_t n = std::min(free, values.size());
    CopyIn(static_cast<size_t>(write % capacity_), values.data(), n);
    write_pos_.store(write + n, std::memory_order_release);  // publishes the copied values
    return n;
  }

  // Consumer side. Moves up to out.size() of the oldest values into `out`; returns how many.
  size_t Read(std::span<T> out) {
    const uint64_t read = read_pos_.load(std::memory_order_relaxed);  // only this thread stores it
    const uint64_t write = write_pos_.load(std::memory_order_acquire);
    const size_t n = std::min(static_cast<size_t>(write - read), out.size());
    CopyOut(static_cast<size_t>(read % capacity_), out.data(), n);
    read_pos_.store(read + n, std::memory_order_release);  // hands the slots back to the producer
    return n;
  }

  // Values ready to read (exact for the consumer; may grow concurrently).
  size_t Size() const {
    const uint64_t read = read_pos_.load(std::memory_order_acquire);
    const uint64_t write = write_pos_.load(std::memory_order_acquire);
    return static_cast<size_t>(write - read);
  }
  // Room for Write() (exact for the producer; may grow concurrently).
  size_t Free() const { return capacity_ - Size(); }

  uint64_t TotalWritten() const { return write_pos_.load(std::memory_order_acquire); }
  uint64_t TotalRead() const { return read_pos_.load(std::memory_order_acquire); }

 private:
  void CopyIn(size_t start, const T* src, size_t n) {
    const size_t first = std::min(n, capacity_ - start);
    if (first > 0) std::memcpy(data_.get() + start, src, first * sizeof(T));
    if (n > first) std::memcpy(data_.get(), src + first, (n - first) * sizeof(T));
  }
  void CopyOut(size_t start, T* dst, size_t n) const {
    const size_t first = std::min(n, capacity_ - start);
    if (first > 0) std::memcpy(dst, data_.get() + start, first * sizeof(T));
    if (n > first) std::memcpy(dst + first, data_.get(), (n - first) * sizeof(T));
  }

  // 64 bytes: the cache line of x86-64 and most ARM cores. Keeping the two positions on separate lines
  // stops the producer and the consumer from invalidating each other's line on every store.
  static constexpr size_t kCacheLine = 64;

  size_t capacity_;
  std::unique_ptr<T[]> data_;
  alignas(kCacheLine) std::atomic<uint64_t> write_pos_{0};
  alignas(kCacheLine) std::atomic<uint64_t> read_pos_{0};
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");
};

}  // namespace ossicle
