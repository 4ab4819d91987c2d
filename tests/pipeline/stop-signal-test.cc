#include "pipeline/stop-signal.h"

#include <signal.h>

#include <catch2/catch.hpp>

namespace ossicle {
namespace {

volatile sig_atomic_t g_previous_handler_calls = 0;
extern "C" void PreviousHandler(int) { g_previous_handler_calls = g_previous_handler_calls + 1; }

using Handler = void (*)(int);

Handler CurrentHandler(int sig) {
  struct sigaction now {};
  sigaction(sig, nullptr, &now);
  return now.sa_handler;
}

TEST_CASE("ScopedStopSignals turns SIGTERM and SIGINT into a stop request and restores the old handlers",
          "[signals]") {
  struct sigaction mine {};
  mine.sa_handler = PreviousHandler;
  sigemptyset(&mine.sa_mask);
  struct sigaction old_term {}, old_int {};
  REQUIRE(sigaction(SIGTERM, &mine, &old_term) == 0);
  REQUIRE(sigaction(SIGINT, &mine, &old_int) == 0);
  ClearStopRequest();

  for (int sig : {SIGTERM, SIGINT}) {
    INFO(SignalName(sig));
    {
      ScopedStopSignals signals;
      CHECK_FALSE(StopRequested());
      CHECK(CurrentHandler(sig) != PreviousHandler);
      REQUIRE(raise(sig) == 0);  // delivered before raise() returns (single thread, not blocked)
      CHECK(StopRequested());
      CHECK(StopSignalNumber() == sig);
      // SA_RESETHAND: a second signal would now take the default action (end the process).
      CHECK(CurrentHandler(sig) == SIG_DFL);
    }
    // The destructor restores the handler that was there before; the stop request stays until cleared.
    CHECK(CurrentHandler(sig) == PreviousHandler);
    CHECK(StopRequested());
    ClearStopRequest();
    CHECK_FALSE(StopRequested());
    CHECK(StopSignalNumber() == 0);
  }
  CHECK(g_previous_handler_calls == 0);
  REQUIRE(raise(SIGTERM) == 0);  // the restored handler runs again
  CHECK(g_previous_handler_calls == 1);
  CHECK_FALSE(StopRequested());

  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
}

TEST_CASE("RequestStop sets the flag without a signal, only the first signal is recorded", "[signals]") {
  ClearStopRequest();
  RequestStop();
  CHECK(StopRequested());
  CHECK(StopSignalNumber() == 0);
  ClearStopRequest();

  ScopedStopSignals signals;
  REQUIRE(raise(SIGINT) == 0);
  // The handler reset itself (SA_RESETHAND); install it again to deliver a second, different signal.
  {
    ScopedStopSignals again;
    REQUIRE(raise(SIGTERM) == 0);
  }
  CHECK(StopSignalNumber() == SIGINT);
  CHECK(SignalName(SIGINT) == "SIGINT");
  CHECK(SignalName(SIGTERM) == "SIGTERM");
  ClearStopRequest();
}

}  // namespace
}  // namespace ossicle
