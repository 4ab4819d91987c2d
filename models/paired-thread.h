// A second thread that lives as long as its owner and runs one task beside the caller's, so a computation
// split in two halves pays a wake-up, not a thread start, per split (a training step splits a dozen times).
//
//   ossicle::PairedThread pair;
//   pair.Run([&] { FirstHalf(); }, [&] { SecondHalf(); });  // SecondHalf on the worker; returns when both are done
//
// Run rethrows the first task's exception, else the second's, after both have finished. Not for concurrent
// use: one owner calls Run at a time.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace ossicle {

class PairedThread {
 public:
  PairedThread();
  ~PairedThread();
  PairedThread(const PairedThread&) = delete;
  PairedThread& operator=(const PairedThread&) = delete;

  // Runs `here` on the calling thread and `there` on the worker, and waits for both.
  void Run(const std::function<void()>& here, const std::function<void()>& there);

 private:
  void Loop();

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void()>* task_ = nullptr;  // set by Run, cleared by the worker when finished
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace ossicle
