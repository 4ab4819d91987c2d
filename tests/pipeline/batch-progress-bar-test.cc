// ProgressBar: the rendered line (pure), and that nothing is drawn when the stream is not a terminal.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "pipeline/progress-bar.h"

namespace ossicle {
namespace {

std::string Contents(std::FILE* f) {
  std::rewind(f);
  std::string text;
  for (int ch; (ch = std::fgetc(f)) != EOF;) text += static_cast<char>(ch);
  return text;
}

TEST_CASE("progress line: bar, counts, failures, rate and ETA", "[batch][progress]") {
  // 412 of 1000 in 33 s: 12.48/s, 588 left -> 47.1 s -> ETA 0:48 (rounded up). 80 columns: the counts
  // take 48, "[" "] " 3, so the bar has 29 cells, floor(0.412 * 29) = 11 of them filled.
  CHECK(RenderProgressLine({412, 1000, 3, 33.0, "files"}, 80) ==
        "[===========>                 ] 412/1000 files   41%  3 failed  12.5/s  ETA 0:48");
  CHECK(RenderProgressLine({412, 1000, 3, 33.0, "files"}, 80).size() == 80);
  // Nothing done yet: no rate, no ETA; failures hidden when 0.
  CHECK(RenderProgressLine({0, 10, 0, 0.0, "files"}, 60) == "[>                             ] 0/10 files    0%");
  // Done: a full bar, no ETA.
  CHECK(RenderProgressLine({10, 10, 0, 4.0, "files"}, 60) ==
        "[==============================] 10/10 files  100%  2.5/s");
  // Narrow terminal: the bar shrinks, then goes; the counts are cut last.
  CHECK(RenderProgressLine({5, 10, 0, 0.0, "files"}, 30) == "[=====>     ] 5/10 files   50%");
  CHECK(RenderProgressLine({5, 10, 0, 0.0, "files"}, 25) == "5/10 files   50%");
  CHECK(RenderProgressLine({5, 10, 0, 0.0, "files"}, 8) == "5/10 fil");
  // Unknown total: counts and rate only.
  CHECK(RenderProgressLine({300, 0, 0, 2.0, "steps"}, 80) == "300 steps  150/s");
}

TEST_CASE("progress line: durations", "[batch][progress]") {
  CHECK(FormatDuration(0.0) == "0:00");
  CHECK(FormatDuration(47.1) == "0:48");
  CHECK(FormatDuration(725.0) == "12:05");
  CHECK(FormatDuration(3723.0) == "1:02:03");
  CHECK(FormatDuration(-1.0) == "?");
}

TEST_CASE("progress bar: drawn in place when forced, silent on a file in auto mode", "[batch][progress]") {
  std::FILE* f = std::tmpfile();
  {
    ProgressBar bar(4, "files", ProgressMode::kAuto, f);  // a regular file is not a terminal
    CHECK_FALSE(bar.Enabled());
    bar.Update(2);
    bar.Print("error: x.wav: broken");  // messages still go through
    bar.Finish();
  }
  CHECK(Contents(f) == "error: x.wav: broken\n");
  std::fclose(f);

  f = std::tmpfile();
  {
    ProgressBar bar(4, "files", ProgressMode::kAlways, f);
    CHECK(bar.Enabled());
    bar.Update(1);   // first update draws at once
    bar.Print("error: y.wav: broken");
    bar.Update(4, 1);
    bar.Finish();
  }
  const std::string text = Contents(f);
  std::fclose(f);
  // "\r<bar 1/4>" then the bar erased, the message on its own line, the bar redrawn, the final bar, "\n".
  CHECK(text.rfind("\r[", 0) == 0);
  CHECK(text.find("1/4 files") != std::string::npos);
  CHECK(text.find("\rerror: y.wav: broken\n\r[") != std::string::npos);
  CHECK(text.find("4/4 files  100%  1 failed") != std::string::npos);
  CHECK(text.back() == '\n');
  CHECK(text.find("error:") == text.rfind("error:"));  // printed once

  ProgressBar never(4, "files", ProgressMode::kNever, stderr);
  CHECK_FALSE(never.Enabled());
}

}  // namespace
}  // namespace ossicle
