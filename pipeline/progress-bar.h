// A one-line progress bar on a terminal, for long loops (batch files, training steps).
//
//   ossicle::ProgressBar bar(files.size(), "files");      // drawn only when stderr is a terminal
//   for (...) { ...; bar.Update(done, failed); }
//   bar.Finish();                                          // final state, then a newline
//
// Line form (redrawn in place with '\r', clipped to the terminal width):
//   [=========>          ]  412/1000 files  41%  3 failed  12.5/s  ETA 0:47
// `failed` is shown only when > 0; rate and ETA once at least one unit is done and time has passed.
//
// When the stream is not a terminal (a pipe, a file, a CI log) the bar prints nothing at all, so logs
// and captured stderr stay clean (ProgressMode::kAuto). Redraws are throttled to 10 per second, so
// Update() may be called for every unit. Print() writes a message line without breaking the bar.
// Thread safety: one thread calls Update/Finish (the batch
// runner calls it from the thread that writes the records).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include "features/config-fields.h"

namespace ossicle {

enum class ProgressMode {
  kAuto,    // draw when the stream is a terminal (isatty)
  kAlways,  // draw even to a pipe or file (tests, `script` sessions)
  kNever,
};
template <>
struct EnumNames<ProgressMode> {
  static constexpr std::array kValues{std::pair{ProgressMode::kAuto, std::string_view{"auto"}},
                                      std::pair{ProgressMode::kAlways, std::string_view{"always"}},
                                      std::pair{ProgressMode::kNever, std::string_view{"never"}}};
};

// What the bar shows; RenderProgressLine turns it into text (pure, so it is testable).
struct ProgressState {
  int64_t done = 0;
  int64_t total = 0;        // <= 0: unknown (no bar, no percentage, no ETA)
  int64_t failed = 0;
  double elapsed_s = 0.0;   // since the bar was created
  std::string_view unit;    // "files", "steps"
};

// The line for `state`, at most `width` characters (no '\r', no newline). The bar part shrinks first
// when the line does not fit; below 20 columns only the counts are kept (cut to `width`).
std::string RenderProgressLine(const ProgressState& state, int width);

// "0:47", "12:05", "1:02:03" (seconds rounded up).
std::string FormatDuration(double seconds);

class ProgressBar {
 public:
  // `stream` is usually stderr. kAuto draws only when isatty(fileno(stream)).
  ProgressBar(int64_t total, std::string unit, ProgressMode mode = ProgressMode::kAuto, std::FILE* stream = stderr);
  ~ProgressBar();  // Finish() if not done yet
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool Enabled() const { return enabled_; }
  void SetTotal(int64_t total) { total_ = total; }
  // Records the counts; redraws when enabled and 100 ms have passed since the last redraw.
  void Update(int64_t done, int64_t failed = 0);
  // Draws the final state and ends the line (no-op when disabled or already finished).
  void Finish();
  // Prints `line` and a newline on the stream (always, enabled or not) above the bar: the bar is cleared
  // first and redrawn after, so log lines and the bar do not mix.
  void Print(std::string_view line);

 private:
  void Draw();

  int64_t total_;
  std::string unit_;
  std::FILE* stream_;
  bool enabled_;
  bool finished_ = false;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  size_t last_length_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

// Terminal width of `stream` (TIOCGWINSZ), else $COLUMNS, else 80.
int TerminalWidth(std::FILE* stream);

}  // namespace ossicle
