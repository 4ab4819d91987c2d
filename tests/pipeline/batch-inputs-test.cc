// ExpandBatchInputs: files, folders (recursive), glob patterns, and the error entries for arguments that
// yield nothing.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/batch-inputs.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

std::vector<std::string> Paths(const std::vector<BatchInput>& inputs) {
  std::vector<std::string> out;
  for (const BatchInput& in : inputs) out.push_back(in.Ok() ? in.path : "ERROR " + in.error);
  return out;
}

// A corpus with nested folders, other files, hidden names and upper-case extensions; the tests run from
// its root so paths are short and relative.
struct Corpus {
  test::ScopedTempDir tmp{"ossicle-batch-inputs"};
  fs::path old_cwd = fs::current_path();
  Corpus() {
    const fs::path r = tmp.path();
    Touch(r / "c/b.wav");
    Touch(r / "c/a.flac");
    Touch(r / "c/sub/z.WAV");
    Touch(r / "c/sub/deeper/y.ogg");
    Touch(r / "c/notes.txt");
    Touch(r / "c/.hidden.wav");
    Touch(r / "c/.git/x.wav");
    Touch(r / "c/a-b.wav");  // sorts before a.flac: compared by component, '-' < '.'
    fs::create_directories(r / "empty/inner");
    Touch(r / "empty/inner/readme.md");
    fs::current_path(r);
  }
  ~Corpus() { fs::current_path(old_cwd); }
};

TEST_CASE("batch inputs: a folder gives its audio files recursively, sorted by path", "[batch][inputs]") {
  Corpus corpus;
  CHECK(Paths(ExpandBatchInputs({"c"})) ==
        std::vector<std::string>{"c/a-b.wav", "c/a.flac", "c/b.wav", "c/sub/deeper/y.ogg", "c/sub/z.WAV"});
  // A trailing slash keeps the same spelling of the children.
  CHECK(Paths(ExpandBatchInputs({"c/"})) == Paths(ExpandBatchInputs({"c"})));
}

TEST_CASE("batch inputs: a named file is taken whatever its extension", "[batch][inputs]") {
  Corpus corpus;
  CHECK(Paths(ExpandBatchInputs({"c/notes.txt", "c/b.wav"})) == std::vector<std::string>{"c/notes.txt", "c/b.wav"});
}

TEST_CASE("batch inputs: glob patterns", "[batch][inputs]") {
  Corpus corpus;
  CHECK(Paths(ExpandBatchInputs({"c/*.wav"})) == std::vector<std::string>{"c/a-b.wav", "c/b.wav"});
  CHECK(Paths(ExpandBatchInputs({"c/[ab].*"})) == std::vector<std::string>{"c/a.flac", "c/b.wav"});
  CHECK(Paths(ExpandBatchInputs({"c/?.wav"})) == std::vector<std::string>{"c/b.wav"});
  // "**" matches zero or more folders (not hidden ones).
  CHECK(Paths(ExpandBatchInputs({"c/**/*.wav"})) == std::vector<std::string>{"c/a-b.wav", "c/b.wav"});
  CHECK(Paths(ExpandBatchInputs({"c/**/*.[oW]*"})) ==
        std::vector<std::string>{"c/sub/deeper/y.ogg", "c/sub/z.WAV"});
  // A matching folder expands like a folder argument; a matched file is kept whatever its extension.
  CHECK(Paths(ExpandBatchInputs({"c/s*"})) == std::vector<std::string>{"c/sub/deeper/y.ogg", "c/sub/z.WAV"});
  CHECK(Paths(ExpandBatchInputs({"c/*.txt"})) == std::vector<std::string>{"c/notes.txt"});
  // Absolute patterns.
  const std::string abs = (fs::current_path() / "c" / "sub" / "*.WAV").string();
  CHECK(Paths(ExpandBatchInputs({abs})) ==
        std::vector<std::string>{(fs::current_path() / "c" / "sub" / "z.WAV").string()});
}

TEST_CASE("batch inputs: arguments keep their order and a file reached twice is kept once", "[batch][inputs]") {
  Corpus corpus;
  CHECK(Paths(ExpandBatchInputs({"c/sub/z.WAV", "c/sub", "./c/sub/../b.wav", "c/*.wav"})) ==
        std::vector<std::string>{"c/sub/z.WAV", "c/sub/deeper/y.ogg", "./c/sub/../b.wav", "c/a-b.wav"});
}

TEST_CASE("batch inputs: arguments that yield nothing become error entries in place", "[batch][inputs]") {
  Corpus corpus;
  const auto inputs = ExpandBatchInputs({"c/b.wav", "missing.wav", "c/*.mp3", "empty", "nope/*.wav"});
  REQUIRE(inputs.size() == 5);
  CHECK(inputs[0] == BatchInput{"c/b.wav", ""});
  CHECK(inputs[1] == BatchInput{"missing.wav", "missing.wav: cannot open: No such file or directory"});
  CHECK(inputs[2] == BatchInput{"c/*.mp3", "c/*.mp3: no file matches this pattern"});
  CHECK(inputs[3].path == "empty");
  CHECK_THAT(inputs[3].error, Catch::Matchers::StartsWith("empty: no audio files in this folder or below "
                                                          "(extensions: wav, wave, flac"));
  CHECK(inputs[4] == BatchInput{"nope/*.wav", "nope/*.wav: no file matches this pattern"});
  CHECK_FALSE(inputs[1].Ok());
}

TEST_CASE("batch inputs: a link cycle does not loop and links to folders are not followed", "[batch][inputs]") {
  Corpus corpus;
  fs::create_directory_symlink("..", "c/sub/up");        // c/sub/up -> c
  fs::create_directory_symlink("../empty", "c/elsewhere");
  CHECK(Paths(ExpandBatchInputs({"c"})) ==
        std::vector<std::string>{"c/a-b.wav", "c/a.flac", "c/b.wav", "c/sub/deeper/y.ogg", "c/sub/z.WAV"});
  // A link named on the command line is followed.
  fs::create_directory_symlink("c/sub", "link-to-sub");
  CHECK(Paths(ExpandBatchInputs({"link-to-sub"})) ==
        std::vector<std::string>{"link-to-sub/deeper/y.ogg", "link-to-sub/z.WAV"});
}

TEST_CASE("batch inputs: an unreadable folder is reported, the rest is kept", "[batch][inputs]") {
  if (::geteuid() == 0) {
    WARN("running as root: folder permissions are not enforced, skipped");
    return;
  }
  Corpus corpus;
  fs::permissions("c/sub/deeper", fs::perms::none);
  const auto inputs = ExpandBatchInputs({"c/sub"});
  fs::permissions("c/sub/deeper", fs::perms::owner_all);
  CHECK(Paths(inputs) == std::vector<std::string>{"ERROR c/sub/deeper: cannot list folder: Permission denied",
                                                  "c/sub/z.WAV"});
}

TEST_CASE("batch inputs: audio extensions and glob detection", "[batch][inputs]") {
  CHECK(HasAudioExtension("a.wav"));
  CHECK(HasAudioExtension("A.FLAC"));
  CHECK(HasAudioExtension("x.y.Opus"));
  CHECK_FALSE(HasAudioExtension("wav"));
  CHECK_FALSE(HasAudioExtension(".wav"));
  CHECK_FALSE(HasAudioExtension("a.wav.txt"));
  CHECK_FALSE(HasAudioExtension("a."));
  CHECK(IsGlobPattern("*.wav"));
  CHECK(IsGlobPattern("take?.wav"));
  CHECK(IsGlobPattern("[ab].wav"));
  CHECK_FALSE(IsGlobPattern("plain/file.wav"));
}

}  // namespace
}  // namespace ossicle
