#include "pipeline/phrase-composer.h"

#include <sndfile.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/manifest.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"
#include "support/text-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;
using test::ScopedTempDir;

const std::string kComposerData = std::string(OSSICLE_SHARED_DIR) + "/data";

using test::WriteText;

// A "word": 300 ms of silence, a 200 ms tone, 300 ms of silence, at 16 kHz.
std::string WriteWord(const fs::path& dir, const std::string& name, double frequency_hz) {
  constexpr int kRate = 16000;
  std::vector<int16_t> s(static_cast<size_t>(kRate * 0.8), 0);
  const std::vector<int16_t> tone = test::SineInt16(kRate, kRate / 5, frequency_hz, 0.5);
  std::copy(tone.begin(), tone.end(), s.begin() + kRate * 3 / 10);
  return test::WritePcm16Wav(dir, name, kRate, 1, s);
}

// Two manifests: "yes"/"no"/"maybe" clips (word column "word") and "go" clips (column "transcript").
struct ComposerFixture {
  ScopedTempDir dir;
  std::string words_tsv;
  std::string go_tsv;
  ComposerFixture() {
    WriteWord(dir.path(), "yes1.wav", 500);
    WriteWord(dir.path(), "yes2.wav", 600);
    WriteWord(dir.path(), "no1.wav", 700);
    WriteWord(dir.path(), "maybe.wav", 800);
    WriteWord(dir.path(), "go1.wav", 900);
    words_tsv = WriteText(dir.path(), "words.tsv",
                          "path\tword\nyes1.wav\tyes\nno1.wav\tno\nyes2.wav\tyes\nmaybe.wav\tmaybe\n");
    go_tsv = WriteText(dir.path(), "go.tsv", "path\ttranscript\ngo1.wav\tgo\n");
  }
  PhraseComposerConfig Config() const {
    PhraseComposerConfig c;
    c.vocabulary = {"yes", "no", "go"};
    c.manifests = {words_tsv, go_tsv};
    c.word_columns = {"word", "transcript"};
    c.floor_dbfs = {-120.0, -120.0};
    c.seed = 3;
    return c;
  }
};

TEST_CASE("phrases: SpeechBounds keeps the loud part plus the padding", "[phrases]") {
  constexpr double kRate = 8000;
  std::vector<float> s(8000, 0.0f);
  for (int i = 2000; i < 4000; ++i) s[static_cast<size_t>(i)] = 0.5f * static_cast<float>(std::sin(0.3 * i));
  const auto [first, last] = SpeechBounds(s, kRate, 35.0, 40.0);
  CHECK(first == 2000 - 320);
  CHECK(last == 4000 + 320);
  const auto [f0, l0] = SpeechBounds(s, kRate, 35.0, 0.0);
  CHECK(f0 == 2000);
  CHECK(l0 == 4000);
  // Shorter than one frame: kept whole.
  const std::vector<float> tiny(10, 0.1f);
  CHECK(SpeechBounds(tiny, kRate, 35.0, 40.0) == std::pair<int64_t, int64_t>{0, 10});
}

TEST_CASE("phrases: transcripts match the words, pauses and edges stay within bounds", "[phrases]") {
  ComposerFixture fx;
  PhraseComposerConfig c = fx.Config();
  c.min_words = 2;
  c.max_words = 4;
  c.pause_ms = {50, 400};
  c.edge_ms = {100, 300};
  c.trim_pad_ms = 20;
  const PhraseComposer composer(c, 1);
  CHECK(composer.NumClips("yes") == 2);
  CHECK(composer.NumClips("no") == 1);
  CHECK(composer.NumClips("go") == 1);
  CHECK(composer.NumClips("maybe") == 0);  // not in the vocabulary: skipped
  CHECK(composer.NumClips() == 4);

  std::map<std::string, int> seen;
  for (int64_t i = 0; i < 60; ++i) {
    const ComposedPhrase p = composer.Compose(i);
    INFO("phrase " << i << ": " << p.transcript);
    REQUIRE(p.words.size() >= 2);
    REQUIRE(p.words.size() <= 4);
    std::string joined;
    for (const auto& w : p.words) {
      joined += (joined.empty() ? "" : " ") + w;
      ++seen[w];
    }
    CHECK(p.transcript == joined);
    REQUIRE(p.origins.size() == p.words.size());
    const auto n = static_cast<int64_t>(p.samples.size());
    CHECK(p.word_start.front() >= 800);   // 100 ms at 8 kHz
    CHECK(p.word_start.front() <= 2400);  // 300 ms
    CHECK(n - p.word_end.back() >= 800);
    CHECK(n - p.word_end.back() <= 2400);
    for (size_t k = 0; k < p.words.size(); ++k) {
      // The tone (200 ms) plus 20 ms padding each side, to within one 10 ms trimming frame.
      const int64_t len = p.word_end[k] - p.word_start[k];
      CHECK(len >= 1600 + 2 * 160 - 80);
      CHECK(len <= 1600 + 2 * 160 + 80);
      // Each origin is the manifest line of a clip of that word.
      const bool yes_line = p.origins[k] == fx.words_tsv + ":2" || p.origins[k] == fx.words_tsv + ":4";
      if (p.words[k] == "yes") CHECK(yes_line);
      if (p.words[k] == "no") CHECK(p.origins[k] == fx.words_tsv + ":3");
      if (p.words[k] == "go") CHECK(p.origins[k] == fx.go_tsv + ":2");
      if (k > 0) {
        const int64_t pause = p.word_start[k] - p.word_end[k - 1];
        CHECK(pause >= 400);   // 50 ms
        CHECK(pause <= 3200);  // 400 ms
      }
    }
    // Pauses hold (near) silence: the noise floor is off in this fixture.
    if (p.words.size() >= 2) {
      const int64_t mid = (p.word_end[0] + p.word_start[1]) / 2;
      CHECK(std::abs(p.samples[static_cast<size_t>(mid)]) < 1e-3f);
    }
  }
  CHECK(seen.size() == 3);
}

TEST_CASE("phrases: phrase i is a function of the seed and i alone", "[phrases]") {
  ComposerFixture fx;
  PhraseComposerConfig c = fx.Config();
  c.floor_dbfs = {-60.0, -50.0};
  c.noise.probability = 0.5;
  const PhraseComposer a(c, 1);
  const PhraseComposer b(c, 1);
  const ComposedPhrase late = b.Compose(7);  // composed first: no state carried between phrases
  for (int64_t i = 0; i < 8; ++i) (void)b.Compose(i);
  const ComposedPhrase p7 = a.Compose(7);
  CHECK(p7.samples == late.samples);
  CHECK(p7.transcript == late.transcript);
  CHECK(a.Compose(8).samples != p7.samples);
  c.seed = 4;
  const PhraseComposer other(c, 1);
  CHECK(other.Compose(7).samples != p7.samples);
}

TEST_CASE("phrases: source_choice even gives each source its share, clips each clip", "[phrases]") {
  ComposerFixture fx;
  // "yes": 2 clips in words.tsv, 6 in many.tsv (the same two recordings, three lines each).
  const std::string many = WriteText(fx.dir.path(), "many.tsv",
                                     "path\tword\nyes1.wav\tyes\nyes2.wav\tyes\nyes1.wav\tyes\n"
                                     "yes2.wav\tyes\nyes1.wav\tyes\nyes2.wav\tyes\n");
  PhraseComposerConfig c = fx.Config();
  c.vocabulary = {"yes"};
  c.manifests = {fx.words_tsv, many};
  c.word_columns = {"word"};
  c.min_words = 5;
  c.max_words = 5;
  auto share_of_words_tsv = [&](SourceChoice choice) {
    c.source_choice = choice;
    const PhraseComposer composer(c, 1);
    int from_words = 0, total = 0;
    for (int64_t i = 0; i < 400; ++i) {
      for (const std::string& origin : composer.Compose(i).origins) {
        from_words += origin.rfind(fx.words_tsv + ":", 0) == 0 ? 1 : 0;
        ++total;
      }
    }
    REQUIRE(total == 2000);
    return from_words / 2000.0;
  };
  // 2000 draws: the standard error of a share is about 0.011, so these bounds are 5 of them wide.
  CHECK(share_of_words_tsv(SourceChoice::kEven) == Approx(0.5).margin(0.055));
  CHECK(share_of_words_tsv(SourceChoice::kClips) == Approx(0.25).margin(0.05));

  const std::string yaml = WriteText(fx.dir.path(), "s.yaml",
                                     "vocabulary: [yes]\nmanifests: [words.tsv]\nsource_choice: clips\n");
  CHECK(LoadPhraseComposerConfig(yaml).source_choice == SourceChoice::kClips);
  CHECK(LoadPhraseComposerConfig(yaml, {"source_choice=even"}).source_choice == SourceChoice::kEven);
  const std::string bad = WriteText(fx.dir.path(), "b.yaml",
                                    "vocabulary: [yes]\nmanifests: [words.tsv]\nsource_choice: sources\n");
  CHECK_THROWS_MATCHES(LoadPhraseComposerConfig(bad), ConfigError, HasMessage("source_choice", bad + ":3:"));
}

TEST_CASE("phrases: WritePhrases writes the WAVs and a manifest the manifest reader accepts", "[phrases]") {
  ComposerFixture fx;
  PhraseComposerConfig c = fx.Config();
  c.num_phrases = 5;
  const PhraseComposer composer(c, 1);
  const fs::path out = fx.dir.path() / "out";
  const std::string tsv = WritePhrases(composer, out.string());
  ManifestColumns columns;
  columns.transcript = "transcript";
  columns.duration = "duration_s";
  const std::vector<ManifestEntry> entries = ReadManifest(tsv, columns, {.check_files = true});
  REQUIRE(entries.size() == 5);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ComposedPhrase p = composer.Compose(static_cast<int64_t>(i));
    CHECK(entries[i].transcript == p.transcript);
    const AudioInfo info = ProbeAudioFile(entries[i].audio_path);
    CHECK(info.sample_rate_hz == 8000);
    CHECK(info.frames == static_cast<int64_t>(p.samples.size()));
    CHECK(entries[i].duration_s == Approx(static_cast<double>(p.samples.size()) / 8000).margin(1e-4));
  }
}

TEST_CASE("phrases: bad manifests and configurations are errors naming the file, line or field", "[phrases]") {
  ComposerFixture fx;
  SECTION("a missing word column names the manifest and the column") {
    PhraseComposerConfig c = fx.Config();
    c.word_columns = {"label", "transcript"};
    CHECK_THROWS_MATCHES(PhraseComposer(c, 1), ConfigError, HasMessage("'label': no such column", fx.words_tsv));
  }
  SECTION("a short line names file and line") {
    PhraseComposerConfig c = fx.Config();
    c.manifests[0] = WriteText(fx.dir.path(), "short.tsv", "path\tword\nyes1.wav\tyes\nno1.wav\n");
    CHECK_THROWS_MATCHES(PhraseComposer(c, 1), Error, HasMessage("1 field; expected 2", c.manifests[0] + ":3:"));
  }
  SECTION("an unreadable clip names manifest and line") {
    PhraseComposerConfig c = fx.Config();
    WriteText(fx.dir.path(), "text.wav", "not audio");
    c.manifests[1] = WriteText(fx.dir.path(), "bad.tsv", "path\ttranscript\ngo1.wav\tgo\ntext.wav\tgo\n");
    CHECK_THROWS_MATCHES(PhraseComposer(c, 1), AudioError, HasMessage("text.wav", c.manifests[1] + ":3: "));
  }
  SECTION("a vocabulary word without clips is named") {
    PhraseComposerConfig c = fx.Config();
    c.vocabulary.push_back("stop");
    CHECK_THROWS_MATCHES(PhraseComposer(c, 1), ConfigError, HasMessage("no clip of the word 'stop'"));
  }
  SECTION("rules name the field") {
    PhraseComposerConfig c = fx.Config();
    c.max_words = 0;
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.max_words = 0; expected in [min_words (1), 16]"));
    c = fx.Config();
    c.vocabulary = {"yes", "two words"};
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.vocabulary[1] = 'two words'"));
    c = fx.Config();
    c.vocabulary = {"yes", "yes"};
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("listed twice", "phrases.vocabulary[1]"));
    c = fx.Config();
    c.word_columns = {"a", "b", "c"};
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.word_columns has 3 entries"));
    c = fx.Config();
    c.pause_ms = {300, 100};
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.pause_ms.max = 100"));
    c = fx.Config();
    c.noise.probability = 2;
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.noise.probability = 2"));
    c = fx.Config();
    c.manifests.clear();
    c.word_columns = {"word"};
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("phrases.manifests is empty"));
  }
  SECTION("a YAML file: unknown keys and rules carry the file") {
    const std::string yaml = WriteText(fx.dir.path(), "p.yaml", "vocabulary: [yes]\nmanifests: [words.tsv]\nmax_wrods: 3\n");
    CHECK_THROWS_MATCHES(LoadPhraseComposerConfig(yaml), ConfigError, HasMessage("unknown key 'max_wrods'", yaml + ":3:1"));
    const std::string bad = WriteText(fx.dir.path(), "q.yaml", "vocabulary: [yes]\nmanifests: [words.tsv]\nmin_words: 0\n");
    CHECK_THROWS_MATCHES(LoadPhraseComposerConfig(bad), ConfigError, HasMessage("phrases.min_words = 0", bad + ": "));
    const std::string good = WriteText(fx.dir.path(), "g.yaml", "vocabulary: [yes]\nmanifests: [words.tsv]\n");
    const PhraseComposerConfig ok = LoadPhraseComposerConfig(good, {"max_words=2", "num_phrases=9"});
    CHECK(ok.manifests == std::vector<std::string>{(fx.dir.path() / "words.tsv").lexically_normal().string()});
    CHECK(ok.max_words == 2);
    CHECK(ok.num_phrases == 9);
  }
}

TEST_CASE("phrases: dev phrases from the shared FSDD and Speech Commands dev speakers", "[phrases]") {
  if (!fs::is_directory(kComposerData)) {
    WARN("skipped: " << kComposerData << " is absent");
    return;
  }
  PhraseComposerConfig c;
  c.vocabulary = {"zero", "one", "two", "go", "left"};
  c.manifests = {kComposerData + "/fsdd/dev.tsv", kComposerData + "/speech-commands/dev.tsv"};
  c.word_columns = {"transcript", "word"};
  const PhraseComposer composer(c, 1);
  CHECK(composer.NumClips("zero") == 50 + 2);  // lucas says each digit 50 times; Speech Commands dev has 2
  CHECK(composer.NumClips("go") == 43);
  const ComposedPhrase p = composer.Compose(0);
  for (const std::string& o : p.origins) CHECK((o.find("/dev.tsv:") != std::string::npos));
  // Trimmed words are shorter than the 1 s Speech Commands clips.
  for (size_t k = 0; k < p.words.size(); ++k) CHECK(p.word_end[k] - p.word_start[k] < 8000);
}

}  // namespace
}  // namespace ossicle
