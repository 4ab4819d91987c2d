// Ctrl-C (SIGINT) and SIGTERM as a stop request that a long-running loop polls.
//
//   ossicle::ScopedStopSignals signals;          // installs the handlers; restores the old ones when destroyed
//   while (!ossicle::StopRequested()) { ... }    // the loop ends cleanly, prints its summary, returns 0
//   if (int sig = ossicle::StopSignalNumber()) fmt::print("stopped by {}\n", ossicle::SignalName(sig));
//
// The handler is async-signal-safe: it only stores into lock-free atomics. The first SIGINT or SIGTERM asks
// for a stop; the handler is installed with SA_RESETHAND, so a second one (a user pressing Ctrl-C again
// because the stop hangs) gets the default action and ends the process at once.
//
// The stop flag is process-wide (signals are). RequestStop() sets it from code (a test, a time limit);
// ClearStopRequest() resets it, e.g. before a second run in the same process.
#pragma once

#include <memory>
#include <string_view>

namespace ossicle {

// True once SIGINT/SIGTERM arrived (while a ScopedStopSignals was alive) or RequestStop() was called.
bool StopRequested();
// The signal that asked for the stop (SIGINT, SIGTERM), or 0 when none did.
int StopSignalNumber();
// Sets the stop flag without a signal (StopSignalNumber() stays unchanged).
void RequestStop();
// Clears the flag and the signal number.
void ClearStopRequest();
// "SIGINT", "SIGTERM", "SIGHUP", "SIGKILL", or "another signal".
std::string_view SignalName(int signal_number);

// Installs the SIGINT and SIGTERM handlers for its lifetime; the destructor restores the previous
// dispositions (which the caller's signals then get again). Does not clear an earlier stop request.
// Not nestable across threads: construct it on the main thread around the loop it guards. Throws
// std::system_error if sigaction() fails.
class ScopedStopSignals {
 public:
  ScopedStopSignals();
  ~ScopedStopSignals();
  ScopedStopSignals(const ScopedStopSignals&) = delete;
  ScopedStopSignals& operator=(const ScopedStopSignals&) = delete;

 private:
  struct Saved;  // the previous dispositions of SIGINT and SIGTERM
  std::unique_ptr<Saved> saved_;
};

}  // namespace ossicle
