#include "pipeline/stop-signal.h"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace ossicle {

namespace {

// Lock-free, so storing from a signal handler is allowed ([support.signal]: lock-free atomics are
// signal-safe; volatile sig_atomic_t would do too, but would not order the other thread's reads).
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

extern "C" void OnStopSignal(int signal_number) {
  // Only the first signal is recorded; SA_RESETHAND makes the next one take the default action anyway.
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal_number, std::memory_order_relaxed);
  g_stop.store(true, std::memory_order_release);
}

constexpr int kSignals[2] = {SIGINT, SIGTERM};

}  // namespace

bool StopRequested() { return g_stop.load(std::memory_order_acquire); }
int StopSignalNumber() { return g_signal.load(std::memory_order_relaxed); }
void RequestStop() { g_stop.store(true, std::memory_order_release); }
void ClearStopRequest() {
  g_signal.store(0, std::memory_order_relaxed);
  g_stop.store(false, std::memory_order_release);
}

std::string_view SignalName(int signal_number) {
  switch (signal_number) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGKILL:
      return "SIGKILL";
    default:
      return "another signal";
  }
}

struct ScopedStopSignals::Saved {
  struct sigaction previous[2];
};

ScopedStopSignals::ScopedStopSignals() : saved_(std::make_unique<Saved>()) {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: a second Ctrl-C kills a stop that hangs. SA_RESTART: blocking calls in other code are
  // resumed rather than failing with EINTR; the loop polls StopRequested() anyway.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  for (int i = 0; i < 2; ++i) {
    if (sigaction(kSignals[i], &action, &saved_->previous[i]) != 0) {
      const int err = errno;
      for (int j = 0; j < i; ++j) sigaction(kSignals[j], &saved_->previous[j], nullptr);
      throw std::system_error(err, std::generic_category(), "sigaction");
    }
  }
}

ScopedStopSignals::~ScopedStopSignals() {
  for (int i = 0; i < 2; ++i) sigaction(kSignals[i], &saved_->previous[i], nullptr);
}

}  // namespace ossicle
