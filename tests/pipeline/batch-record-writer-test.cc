// RecordWriter: canonical JSON lines, CSV quoting, PATH.partial -> PATH, --resume after a cut write,
// locking, and the errors that name the path.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "features/errors.h"
#include "pipeline/record-writer.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// a.wav: one hit then its summary; b.wav: an error.
std::vector<Record> FileA() {
  return {MakeHitRecord("a.wav", "yes", 0.25, 0.5, 0.875), MakeSummaryRecord("a.wav", 1.5, 1)};
}
std::vector<Record> FileB() { return {MakeErrorRecord("b.wav", "b.wav: contains no audio (0 frames)", 4)}; }

const std::string kLineA1 =
    R"({"type":"hit","file":"a.wav","keyword":"yes","start_s":0.25,"end_s":0.5,"score":0.875})";
const std::string kLineA2 = R"({"type":"summary","file":"a.wav","duration_s":1.5,"hits":1})";
const std::string kLineB = R"J({"type":"error","file":"b.wav","error":"b.wav: contains no audio (0 frames)","exit_code":4})J";

TEST_CASE("records: JSON lines in the canonical key order", "[batch][records]") {
  CHECK(JsonLine(FileA()[0]) == kLineA1);
  CHECK(JsonLine(FileB()[0]) == kLineB);
  // Whatever order the keys were added in; unknown keys after the agreed ones, alphabetically; nested too.
  Record r;
  r["zeta"] = 1;
  r["confidence"] = 0.5;
  r["alpha"] = true;
  r["tokens"] = Record::array({Record{{"end_s", 0.5}, {"start_s", 0.25}, {"token", "yes"}}});
  r["text"] = "yes";
  r["file"] = "f.wav";
  r["type"] = "transcript";
  CHECK(JsonLine(r) == R"({"type":"transcript","file":"f.wav","text":"yes",)"
                       R"("tokens":[{"token":"yes","start_s":0.25,"end_s":0.5}],"confidence":0.5,"alpha":true,"zeta":1})");
  CHECK(JsonLine(MakeTranscriptRecord("f.wav", "yes", {{"yes", 0.25, 0.5}}, 0.5)) ==
        R"({"type":"transcript","file":"f.wav","text":"yes","tokens":[{"token":"yes","start_s":0.25,"end_s":0.5}],)"
        R"("confidence":0.5})");
  // Invalid UTF-8 in a file name cannot be JSON: written as U+FFFD instead of failing.
  CHECK(JsonLine(MakeSummaryRecord("bad\xff.wav", 1.0, 0)) ==
        "{\"type\":\"summary\",\"file\":\"bad\xEF\xBF\xBD.wav\",\"duration_s\":1.0,\"hits\":0}");
  CHECK(IsTerminalRecord(FileA()[1]));
  CHECK(IsTerminalRecord(FileB()[0]));
  CHECK_FALSE(IsTerminalRecord(FileA()[0]));
}

TEST_CASE("records: CSV rows quote what needs it and parse back", "[batch][records]") {
  CHECK(CsvHeader(kSpotCsvColumns) == "type,file,keyword,start_s,end_s,score,duration_s,hits,warning,error,exit_code");
  CHECK(CsvRow(FileA()[0], kSpotCsvColumns) == "hit,a.wav,yes,0.25,0.5,0.875,,,,,");
  CHECK(CsvRow(FileA()[1], kSpotCsvColumns) == "summary,a.wav,,,,,1.5,1,,,");
  Record e = MakeErrorRecord("x, \"y\".wav", "line one\nline two", 4);
  const std::string row = CsvRow(e, kSpotCsvColumns);
  CHECK(row == "error,\"x, \"\"y\"\".wav\",,,,,,,,\"line one\nline two\",4");
  bool cut = true;
  const auto rows = ParseCsv(row + "\n" + CsvRow(FileA()[0], kSpotCsvColumns) + "\n", &cut);
  CHECK_FALSE(cut);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0] == std::vector<std::string>{"error", "x, \"y\".wav", "", "", "", "", "", "", "", "line one\nline two", "4"});
  CHECK(rows[1][2] == "yes");
  // A last row without its line end (a cut write) is dropped, even inside a quoted cell.
  CHECK(ParseCsv("a,b\nc,\"d\ne", &cut).size() == 1);
  CHECK(cut);
  // Arrays become compact JSON in their cell.
  CHECK(CsvRow(MakeTranscriptRecord("f.wav", "yes", {{"yes", 0.25, 0.5}}, 0.5), kTranscribeCsvColumns) ==
        R"(transcript,f.wav,yes,0.5,"[{""token"":""yes"",""start_s"":0.25,""end_s"":0.5}]",,,,)");
}

TEST_CASE("record writer: PATH appears only when complete", "[batch][records]") {
  test::ScopedTempDir tmp;
  const fs::path out = tmp.path() / "hits.jsonl";
  {
    RecordWriter w({.path = out.string()});
    w.WriteFile(FileA());
    // While running: the records are in PATH.partial, PATH does not exist yet.
    CHECK_FALSE(fs::exists(out));
    CHECK(Read(out.string() + ".partial") == kLineA1 + "\n" + kLineA2 + "\n");
    w.WriteFile(FileB());
    w.Finish();
    CHECK(w.FirstErrorExitCode() == 4);
    CHECK(w.FilesWritten() == 2);
  }
  CHECK(Read(out) == kLineA1 + "\n" + kLineA2 + "\n" + kLineB + "\n");
  CHECK_FALSE(fs::exists(out.string() + ".partial"));

  // A new run (no resume) keeps the old PATH until it finishes, then replaces it.
  {
    RecordWriter w({.path = out.string()});
    w.WriteFile(FileB());
    CHECK(Read(out) == kLineA1 + "\n" + kLineA2 + "\n" + kLineB + "\n");
    w.Finish();
  }
  CHECK(Read(out) == kLineB + "\n");
}

TEST_CASE("record writer: a run stopped by an error keeps PATH.partial only when it holds results",
          "[batch][records]") {
  test::ScopedTempDir tmp;
  const fs::path out = tmp.path() / "hits.jsonl";
  { RecordWriter w({.path = out.string()}); }
  CHECK_FALSE(fs::exists(out.string() + ".partial"));
  CHECK_FALSE(fs::exists(out));
  {
    RecordWriter w({.path = out.string()});
    w.WriteFile(FileA());
  }
  CHECK(Read(out.string() + ".partial") == kLineA1 + "\n" + kLineA2 + "\n");
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("record writer: resume keeps whole files and drops a cut line", "[batch][records]") {
  test::ScopedTempDir tmp;
  const fs::path out = tmp.path() / "hits.jsonl";
  const std::string partial = out.string() + ".partial";
  // What a kill -9 can leave: a.wav complete, b.wav's error, c.wav's hit without its summary (a file
  // written by hand; ossicle writes one file's records at once), then half a line.
  const std::string c_hit = JsonLine(MakeHitRecord("c.wav", "no", 0.1, 0.2, 0.5));
  Write(partial, kLineA1 + "\n" + kLineA2 + "\n" + kLineB + "\n" + c_hit + "\n" + R"({"type":"summary","fi)");
  {
    RecordWriter w({.path = out.string(), .resume = true});
    CHECK(w.Resumed().source == partial);
    CHECK(w.Resumed().complete_files == 2);
    CHECK(w.Resumed().failed_files == 1);
    CHECK(w.Resumed().dropped_records == 1);
    CHECK(w.Resumed().dropped_lines == 1);
    CHECK(w.IsComplete("a.wav"));
    CHECK(w.IsComplete("b.wav"));
    CHECK_FALSE(w.IsComplete("c.wav"));
    CHECK(w.FirstErrorExitCode() == 4);
    // The kept records are already back in PATH.partial (a second kill loses nothing).
    CHECK(Read(partial) == kLineA1 + "\n" + kLineA2 + "\n" + kLineB + "\n");
    w.WriteFile({MakeSummaryRecord("c.wav", 0.5, 0)});
    w.Finish();
  }
  CHECK(Read(out) == kLineA1 + "\n" + kLineA2 + "\n" + kLineB + "\n" +
                         R"({"type":"summary","file":"c.wav","duration_s":0.5,"hits":0})" + "\n");
  CHECK_FALSE(fs::exists(partial));
  CHECK_FALSE(fs::exists(partial + ".tmp"));

  // Resuming a finished output reads PATH: everything is complete, the output stays the same.
  const std::string finished = Read(out);
  {
    RecordWriter w({.path = out.string(), .resume = true});
    CHECK(w.Resumed().source == out.string());
    CHECK(w.Resumed().complete_files == 3);
    CHECK(w.Resumed().dropped_lines == 0);
    w.Finish();
  }
  CHECK(Read(out) == finished);

  // No earlier output: resume starts empty.
  {
    RecordWriter w({.path = (tmp.path() / "new.jsonl").string(), .resume = true});
    CHECK(w.Resumed().source.empty());
    CHECK(w.Resumed().complete_files == 0);
    CHECK(w.FirstErrorExitCode() == 0);
  }
}

TEST_CASE("record writer: resume refuses a file that is not a JSON-lines output", "[batch][records]") {
  test::ScopedTempDir tmp;
  const fs::path out = tmp.path() / "hits.jsonl";
  Write(out, kLineA1 + "\n" + "type,file,keyword\n" + kLineA2 + "\n");
  CHECK_THROWS_MATCHES(RecordWriter({.path = out.string(), .resume = true}), IoError,
                       test::HasMessage(out.string() + ":2: not a JSON record with \"type\" and \"file\""));
  // The refused file is left as it was, and nothing else is.
  CHECK(Read(out) == kLineA1 + "\n" + "type,file,keyword\n" + kLineA2 + "\n");
  CHECK_FALSE(fs::exists(out.string() + ".partial"));
}

TEST_CASE("record writer: CSV output and resume", "[batch][records]") {
  test::ScopedTempDir tmp;
  const fs::path out = tmp.path() / "hits.csv";
  const std::string header = CsvHeader(kSpotCsvColumns) + "\n";
  {
    RecordWriter w({.path = out.string(), .format = RecordFormat::kCsv});
    w.WriteFile(FileA());
    w.WriteFile(FileB());
    w.Finish();
  }
  const std::string full = Read(out);
  CHECK(full == header + "hit,a.wav,yes,0.25,0.5,0.875,,,,,\nsummary,a.wav,,,,,1.5,1,,,\n"
                         "error,b.wav,,,,,,,,b.wav: contains no audio (0 frames),4\n");
  // A partial output cut inside b.wav's row: a.wav is kept, b.wav redone.
  Write(out.string() + ".partial", full.substr(0, full.size() - 10));
  {
    RecordWriter w({.path = out.string(), .format = RecordFormat::kCsv, .resume = true});
    CHECK(w.Resumed().complete_files == 1);
    CHECK(w.Resumed().dropped_lines == 1);
    CHECK(w.IsComplete("a.wav"));
    CHECK_FALSE(w.IsComplete("b.wav"));
    CHECK(w.FirstErrorExitCode() == 0);
    w.WriteFile(FileB());
    CHECK(w.FirstErrorExitCode() == 4);
    w.Finish();
  }
  CHECK(Read(out) == full);

  // Another command's columns (or a JSON file) are refused, naming both headers.
  CHECK_THROWS_MATCHES(
      RecordWriter({.path = out.string(), .format = RecordFormat::kCsv, .csv_columns = kTranscribeCsvColumns,
                    .resume = true}),
      IoError, test::HasMessage(out.string() + ": its CSV header (type,file,keyword,"));
}

TEST_CASE("record writer: errors name the path", "[batch][records]") {
  test::ScopedTempDir tmp;
  CHECK_THROWS_MATCHES(RecordWriter({.path = (tmp.path() / "no-such-dir" / "x.jsonl").string()}), IoError,
                       test::HasMessage((tmp.path() / "no-such-dir" / "x.jsonl").string() +
                                             ".partial: cannot open for writing: No such file or directory"));
  CHECK_THROWS_MATCHES(RecordWriter({.path = tmp.path().string()}), IoError,
                       test::HasMessage(tmp.path().string() + ": is a folder; expected an output file name"));
  CHECK_THROWS_MATCHES(RecordWriter({.path = "", .resume = true}), ConfigError,
                       test::HasMessage("--resume needs an output file (--out FILE)"));
  CHECK_THROWS_MATCHES(RecordWriter({.path = "-", .resume = true}), ConfigError, test::HasMessage("--resume"));

  // Two writers on one output: the second is refused while the first holds it.
  const std::string out = (tmp.path() / "hits.jsonl").string();
  RecordWriter first({.path = out});
  CHECK_THROWS_MATCHES(RecordWriter({.path = out}), IoError,
                       test::HasMessage(out + ".partial: another ossicle run is writing this output (locked)"));
  CHECK_THROWS_MATCHES(RecordWriter({.path = out, .resume = true}), IoError, test::HasMessage("(locked)"));
  first.WriteFile(FileA());
  first.Finish();
  CHECK_THROWS_AS(first.WriteFile(FileB()), IoError);
  CHECK(Read(out) == kLineA1 + "\n" + kLineA2 + "\n");
}

TEST_CASE("record writer: resume recognises file names that are not valid UTF-8", "[batch][records]") {
  test::ScopedTempDir tmp;
  const std::string out = (tmp.path() / "hits.jsonl").string();
  const std::string name = "take\xff.wav";
  {
    RecordWriter w({.path = out});
    w.WriteFile({MakeSummaryRecord(name, 1.0, 0)});
    w.Finish();
  }
  RecordWriter w({.path = out, .resume = true});
  CHECK(w.IsComplete(name));
  CHECK_FALSE(w.IsComplete("take.wav"));
}

}  // namespace
}  // namespace ossicle
