#include "pipeline/progress-bar.h"

#include <fmt/core.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ossicle {

namespace {

// A bar wider than this adds nothing but makes the counts jump around on a wide terminal.
constexpr int kMaxBarCells = 30;
// Below this many cells a bar is noise: the counts alone are shown.
constexpr int kMinBarCells = 10;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string FormatRate(double per_s) {
  if (per_s >= 100.0) return fmt::format("{:.0f}/s", per_s);
  if (per_s >= 1.0) return fmt::format("{:.1f}/s", per_s);
  return fmt::format("{:.2f}/s", per_s);
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::ceil(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string RenderProgressLine(const ProgressState& state, int width) {
  const bool known_total = state.total > 0;
  std::string counts = known_total ? fmt::format("{}/{} {}", state.done, state.total, state.unit)
                                   : fmt::format("{} {}", state.done, state.unit);
  if (known_total) {
    const double fraction = std::clamp(static_cast<double>(state.done) / static_cast<double>(state.total), 0.0, 1.0);
    counts += fmt::format("  {:3.0f}%", std::floor(100.0 * fraction));
  }
  if (state.failed > 0) counts += fmt::format("  {} failed", state.failed);
  if (state.done > 0 && state.elapsed_s > 0.0) {
    const double rate = static_cast<double>(state.done) / state.elapsed_s;
    counts += "  " + FormatRate(rate);
    if (known_total && state.done < state.total) {
      counts += "  ETA " + FormatDuration(static_cast<double>(state.total - state.done) / rate);
    }
  }

  const int room = width - static_cast<int>(counts.size()) - 3;  // "[", "] ", bar cells
  const int cells = std::min(room, kMaxBarCells);
  if (!known_total || cells < kMinBarCells) {
    if (static_cast<int>(counts.size()) > width) counts.resize(static_cast<size_t>(std::max(width, 0)));
    return counts;
  }
  const double fraction = std::clamp(static_cast<double>(state.done) / static_cast<double>(state.total), 0.0, 1.0);
  const int filled = static_cast<int>(std::floor(fraction * cells));
  std::string bar = "[";
  bar.append(static_cast<size_t>(filled), '=');
  if (filled < cells) {
    bar += '>';
    bar.append(static_cast<size_t>(cells - filled - 1), ' ');
  }
  bar += "] ";
  return bar + counts;
}

int TerminalWidth(std::FILE* stream) {
  winsize ws{};
  if (stream != nullptr && ::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int c = std::atoi(columns);
    if (c > 0) return c;
  }
  return 80;
}

ProgressBar::ProgressBar(int64_t total, std::string unit, ProgressMode mode, std::FILE* stream)
    : total_(total),
      unit_(std::move(unit)),
      stream_(stream),
      enabled_(stream != nullptr && (mode == ProgressMode::kAlways ||
                                     (mode == ProgressMode::kAuto && ::isatty(::fileno(stream)) == 1))),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done, int64_t failed) {
  done_ = done;
  failed_ = failed;
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  Draw();
}

void ProgressBar::Finish() {
  if (!enabled_ || finished_) return;
  Draw();
  std::fputc('\n', stream_);
  std::fflush(stream_);
  finished_ = true;
}

void ProgressBar::Print(std::string_view line) {
  if (stream_ == nullptr) return;
  const bool redraw = enabled_ && drawn_ && !finished_;
  if (redraw) {
    std::fputc('\r', stream_);
    for (size_t i = 0; i < last_length_; ++i) std::fputc(' ', stream_);
    std::fputc('\r', stream_);
    last_length_ = 0;
  }
  std::fwrite(line.data(), 1, line.size(), stream_);
  std::fputc('\n', stream_);
  if (redraw) Draw();
  std::fflush(stream_);
}

void ProgressBar::Draw() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // One column short of the width: writing the last column makes some terminals wrap.
  std::string line =
      RenderProgressLine(ProgressState{done_, total_, failed_, elapsed, unit_}, TerminalWidth(stream_) - 1);
  const size_t length = line.size();
  if (length < last_length_) line.append(last_length_ - length, ' ');  // erase what the older line left
  std::fputc('\r', stream_);
  std::fputs(line.c_str(), stream_);
  std::fflush(stream_);
  last_length_ = length;
  drawn_ = true;
}

}  // namespace ossicle
