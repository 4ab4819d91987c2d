#include "models/paired-thread.h"

namespace ossicle {

PairedThread::PairedThread() : worker_([this] { Loop(); }) {}

PairedThread::~PairedThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void PairedThread::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || task_ != nullptr; });
    if (task_ == nullptr) return;  // stop with nothing to run
    const std::function<void()>* task = task_;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*task)();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    task_ = nullptr;
    done_.notify_one();
  }
}

void PairedThread::Run(const std::function<void()>& here, const std::function<void()>& there) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &there;
    error_ = nullptr;
  }
  wake_.notify_one();
  std::exception_ptr here_error;
  try {
    here();
  } catch (...) {
    here_error = std::current_exception();
  }
  std::exception_ptr there_error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return task_ == nullptr; });
    there_error = error_;
    error_ = nullptr;
  }
  if (here_error) std::rethrow_exception(here_error);
  if (there_error) std::rethrow_exception(there_error);
}

}  // namespace ossicle
