#include "pipeline/manifest.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "features/errors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"
#include "support/text-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;
using test::ScopedTempDir;

const std::string kData = std::string(OSSICLE_SHARED_DIR) + "/data";

using test::WriteText;

bool HaveSharedData() {
  if (fs::is_directory(kData)) return true;
  WARN("skipped: " << kData << " is absent");
  return false;
}

TEST_CASE("manifest: the real shared data sets parse with their columns", "[manifest]") {
  if (!HaveSharedData()) return;
  SECTION("fsdd train: label, transcript, duration") {
    ManifestColumns c;
    c.label = "label";
    c.transcript = "transcript";
    c.duration = "duration_s";
    const auto e = ReadManifest(kData + "/fsdd/train.tsv", c);
    REQUIRE(e.size() == 2000);
    CHECK(e[0].audio_path == (fs::path(kData) / "fsdd/train/0_george_0.flac").lexically_normal().string());
    CHECK(e[0].label == "0");
    CHECK(e[0].transcript == "zero");
    CHECK(e[0].duration_s == Approx(0.2980));
    CHECK(e[0].line == 2);
    CHECK(e.back().line == 2001);
  }
  SECTION("fsdd dev with every audio file checked") {
    ManifestColumns c;
    c.label = "label";
    ManifestReadOptions o;
    o.check_files = true;
    const auto e = ReadManifest(kData + "/fsdd/dev.tsv", c, o);
    CHECK(e.size() == 500);
  }
  SECTION("speech-commands: the word column as transcript, an empty speaker field is fine") {
    ManifestColumns c;
    c.label = "label";
    c.transcript = "word";
    const auto e = ReadManifest(kData + "/speech-commands/train.tsv", c);
    CHECK(e.size() == 2828);
    CHECK(e[0].label == "_silence_");
  }
  SECTION("wake-words: keyword as label") {
    ManifestColumns c;
    c.label = "keyword";
    const auto e = ReadManifest(kData + "/wake-words/manifest.tsv", c);
    CHECK(e.size() == 713);
    CHECK((e[0].label == "alexa" || e[0].label == "jarvis"));
  }
  SECTION("background: path only") {
    const auto e = ReadManifest(kData + "/background/manifest.tsv", ManifestColumns{});
    CHECK(e.size() == 712);
    CHECK(e[0].label.empty());
    CHECK(e[0].duration_s < 0);
  }
}

TEST_CASE("manifest: format details", "[manifest]") {
  ScopedTempDir tmp;
  SECTION("CRLF line ends, comments and blank lines; absolute paths kept; relative ones resolved") {
    const std::string path = WriteText(tmp.path(), "m.tsv",
                                       "# a comment\r\npath\tlabel\r\n\r\nsub/a.wav\tyes\r\n/abs/b.wav\tno\r\n");
    ManifestColumns c;
    c.label = "label";
    const auto e = ReadManifest(path, c);
    REQUIRE(e.size() == 2);
    CHECK(e[0].audio_path == (tmp.path() / "sub/a.wav").string());
    CHECK(e[0].label == "yes");
    CHECK(e[0].line == 4);
    CHECK(e[1].audio_path == "/abs/b.wav");
    CHECK(e[1].label == "no");
    CHECK(e[0].written_path == "sub/a.wav");  // as written, for reports
    CHECK(e[1].written_path == "/abs/b.wav");
  }
  SECTION("extra columns are ignored; columns may come in any order") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "speaker\tlabel\tpath\nann\tyes\ta.wav\n");
    ManifestColumns c;
    c.label = "label";
    const auto e = ReadManifest(path, c);
    REQUIRE(e.size() == 1);
    CHECK(e[0].label == "yes");
    CHECK(fs::path(e[0].audio_path).filename() == "a.wav");
  }
}

TEST_CASE("manifest: every error names the file, the line and what was wrong", "[manifest]") {
  ScopedTempDir tmp;
  ManifestColumns c;
  c.label = "label";
  SECTION("missing file") {
    const std::string path = (tmp.path() / "none.tsv").string();
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError, HasMessage("cannot open manifest", path + ":"));
  }
  SECTION("a configured column the header lacks") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tkeyword\na.wav\tyes\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), ConfigError,
                         HasMessage("manifest.columns.label = 'label': no such column; the header has path, keyword",
                                    path + ":1:"));
  }
  SECTION("wrong number of fields") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\tspeaker\na.wav\tyes\tx\nb.wav\tno\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError,
                         HasMessage("2 fields; expected 3 as in the header (path, label, speaker)", path + ":3:"));
  }
  SECTION("header only") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError, HasMessage("manifest has a header but no entries", path));
  }
  SECTION("empty file") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError, HasMessage("no header line", path + ":1:"));
  }
  SECTION("duplicate column") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\tpath\na\tb\tc\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError,
                         HasMessage("duplicate column 'path' (columns 1 and 3)", path + ":1:"));
  }
  SECTION("empty path") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\n\tyes\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError, HasMessage("column 'path' is empty", path + ":2:"));
  }
  SECTION("a duration that is not a number") {
    c.duration = "duration_s";
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\tduration_s\na.wav\tyes\t1.5\nb.wav\tno\tabc\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), IoError,
                         HasMessage("column 'duration_s' = 'abc'; expected a number of seconds >= 0", path + ":3:"));
  }
  SECTION("a missing audio file, when checked") {
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\nsub/gone.wav\tyes\n");
    ManifestReadOptions o;
    o.check_files = true;
    CHECK_THROWS_MATCHES(ReadManifest(path, c, o), IoError,
                         HasMessage("audio file 'sub/gone.wav' (resolved to '" + (tmp.path() / "sub/gone.wav").string() +
                                        "') does not exist",
                                    path + ":2:"));
    CHECK_NOTHROW(ReadManifest(path, c));  // unchecked by default
  }
  SECTION("an empty path column name") {
    c.path = "";
    const std::string path = WriteText(tmp.path(), "m.tsv", "path\tlabel\na\tb\n");
    CHECK_THROWS_MATCHES(ReadManifest(path, c), ConfigError, HasMessage("manifest.columns.path = \"\"; expected"));
  }
}

}  // namespace
}  // namespace ossicle
