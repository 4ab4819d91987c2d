#include "pipeline/phrase-composer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/audio-file-writer.h"
#include "pipeline/manifest.h"
#include "pipeline/resample.h"

namespace ossicle {

namespace {

void CheckIn(std::string_view path, std::string_view field, double value, double lo, double hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    std::ostringstream rule;
    rule << "in [" << lo << ", " << hi << "]";
    throw ConfigError(RuleMessage(path, field, value, rule.str()));
  }
}

int64_t MsToSamples(double ms, double rate_hz) { return std::llround(ms * rate_hz / 1000.0); }

// Per-phrase generator: (seed, index) mixed with splitmix64 so neighbouring indices are unrelated.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

size_t PickIndex(size_t n, std::mt19937_64& rng) {
  return std::min(n - 1, static_cast<size_t>(Uniform01(rng) * static_cast<double>(n)));
}

// Trims to the speech and fades both ends (5 ms) so joins do not click.
std::vector<float> PrepareClip(std::span<const float> samples, const PhraseComposerConfig& c) {
  const auto [first, last] = SpeechBounds(samples, c.sample_rate_hz, c.trim_below_peak_db, c.trim_pad_ms);
  std::vector<float> clip(samples.begin() + first, samples.begin() + last);
  const auto fade = std::min<int64_t>(MsToSamples(5.0, c.sample_rate_hz), static_cast<int64_t>(clip.size()) / 2);
  for (int64_t k = 0; k < fade; ++k) {
    const float g = static_cast<float>(k) / static_cast<float>(fade);
    clip[static_cast<size_t>(k)] *= g;
    clip[clip.size() - 1 - static_cast<size_t>(k)] *= g;
  }
  return clip;
}

}  // namespace

void PhraseComposerConfig::Validate(std::string_view key_path) const {
  if (vocabulary.empty()) throw ConfigError(JoinKey(key_path, "vocabulary") + " is empty; expected at least one word");
  std::set<std::string> seen;
  for (size_t i = 0; i < vocabulary.size(); ++i) {
    const std::string& w = vocabulary[i];
    const std::string where = JoinKey(key_path, "vocabulary") + "[" + std::to_string(i) + "] = '" + w + "'";
    if (w.empty() || w.find_first_of(" \t\r\n") != std::string::npos) {
      throw ConfigError(where + "; expected one word without blanks");
    }
    if (!seen.insert(w).second) throw ConfigError(where + "; the word is listed twice");
  }
  if (manifests.empty()) throw ConfigError(JoinKey(key_path, "manifests") + " is empty; expected at least one manifest");
  for (size_t i = 0; i < manifests.size(); ++i) {
    if (manifests[i].empty()) {
      throw ConfigError(JoinKey(key_path, "manifests") + "[" + std::to_string(i) + "] is empty; expected a path");
    }
  }
  if (word_columns.size() != 1 && word_columns.size() != manifests.size()) {
    throw ConfigError(JoinKey(key_path, "word_columns") + " has " + std::to_string(word_columns.size()) +
                      " entries; expected 1 or one per manifest (" + std::to_string(manifests.size()) + ")");
  }
  for (size_t i = 0; i < word_columns.size(); ++i) {
    if (word_columns[i].empty()) {
      throw ConfigError(JoinKey(key_path, "word_columns") + "[" + std::to_string(i) + "] is empty; expected a column");
    }
  }
  if (num_phrases < 1 || num_phrases > 10000000) {
    throw ConfigError(RuleMessage(key_path, "num_phrases", num_phrases, "in [1, 10000000]"));
  }
  if (min_words < 1 || min_words > 16) throw ConfigError(RuleMessage(key_path, "min_words", min_words, "in [1, 16]"));
  if (max_words < min_words || max_words > 16) {
    throw ConfigError(RuleMessage(key_path, "max_words", max_words,
                                  "in [min_words (" + std::to_string(min_words) + "), 16]"));
  }
  pause_ms.Validate(JoinKey(key_path, "pause_ms"), 0.0, 5000.0);
  edge_ms.Validate(JoinKey(key_path, "edge_ms"), 0.0, 5000.0);
  CheckIn(key_path, "sample_rate_hz", sample_rate_hz, 4000.0, 48000.0);
  CheckIn(key_path, "trim_below_peak_db", trim_below_peak_db, 6.0, 100.0);
  CheckIn(key_path, "trim_pad_ms", trim_pad_ms, 0.0, 500.0);
  level_dbfs.Validate(JoinKey(key_path, "level_dbfs"), -120.0, 0.0);
  floor_dbfs.Validate(JoinKey(key_path, "floor_dbfs"), -120.0, 0.0);
  CheckIn(JoinKey(key_path, "noise"), "probability", noise.probability, 0.0, 1.0);
  noise.snr_db.Validate(JoinKey(key_path, "noise.snr_db"), -20.0, 60.0);
  SyntheticSpeechConfig synth = synthetic;  // empty texts: the vocabulary
  if (synth.texts.empty()) synth.texts = vocabulary;
  synth.Validate(JoinKey(key_path, "synthetic"));
}

PhraseComposerConfig LoadPhraseComposerConfig(const std::string& yaml_path, const std::vector<std::string>& overrides) {
  YamlSource source;
  YAML::Node root = LoadYamlFile(yaml_path, source);
  for (const std::string& o : overrides) ApplyOverride(root, o);
  PhraseComposerConfig config;
  ReadConfig(root, config, source, "phrases");
  try {
    config.Validate();
  } catch (const ConfigError& e) {
    throw ConfigError(yaml_path + ": " + e.what());
  }
  return config;
}

std::vector<ConfigDocRow> PhraseComposerConfigDocs() {
  std::vector<ConfigDocRow> rows;
  CollectConfigDocs(PhraseComposerConfig{}, "", rows);
  return rows;
}

std::pair<int64_t, int64_t> SpeechBounds(std::span<const float> samples, double sample_rate_hz,
                                         double trim_below_peak_db, double trim_pad_ms) {
  const auto n = static_cast<int64_t>(samples.size());
  const int64_t frame = std::max<int64_t>(1, MsToSamples(10.0, sample_rate_hz));
  const int64_t frames = n / frame;
  if (frames < 1) return {0, n};
  std::vector<double> db(static_cast<size_t>(frames));
  for (int64_t f = 0; f < frames; ++f) {
    db[static_cast<size_t>(f)] = 10.0 * std::log10(MeanPower(samples.subspan(static_cast<size_t>(f * frame),
                                                                             static_cast<size_t>(frame))) +
                                                   1e-10);
  }
  const double threshold = *std::max_element(db.begin(), db.end()) - trim_below_peak_db;
  int64_t first = 0;
  while (db[static_cast<size_t>(first)] < threshold) ++first;
  int64_t last = frames - 1;
  while (db[static_cast<size_t>(last)] < threshold) --last;
  const int64_t pad = MsToSamples(trim_pad_ms, sample_rate_hz);
  const int64_t begin = std::max<int64_t>(0, first * frame - pad);
  const int64_t end = (last == frames - 1) ? n : std::min(n, (last + 1) * frame + pad);
  return {begin, end};
}

PhraseComposer::PhraseComposer(PhraseComposerConfig config, int num_threads) : config_(std::move(config)) {
  config_.Validate();
  const PhraseComposerConfig& c = config_;
  std::map<std::string, size_t> word_index;
  for (size_t i = 0; i < c.vocabulary.size(); ++i) word_index[c.vocabulary[i]] = i;
  // by_source[source][word] -> clips
  std::vector<std::vector<std::vector<WordClip>>> by_source;

  AudioReadConfig read;
  read.sample_rate_hz = c.sample_rate_hz;
  for (size_t m = 0; m < c.manifests.size(); ++m) {
    const std::string& manifest = c.manifests[m];
    ManifestColumns columns;
    columns.transcript = c.word_columns[c.word_columns.size() == 1 ? 0 : m];
    const std::vector<ManifestEntry> entries = ReadManifest(manifest, columns);
    std::vector<std::vector<WordClip>> words(c.vocabulary.size());
    for (const ManifestEntry& e : entries) {
      const auto it = word_index.find(e.transcript);
      if (it == word_index.end()) continue;
      const std::string origin = EntryLocation(manifest, e);
      std::vector<float> samples;
      try {
        samples = ReadAudioFile(e.audio_path, read);
      } catch (const Error& error) {
        throw AudioError(origin + ": " + error.what());
      }
      words[it->second].push_back(WordClip{e.transcript, origin, PrepareClip(samples, c)});
    }
    by_source.push_back(std::move(words));
  }
  if (c.synthetic.examples_per_text > 0) {
    SyntheticSpeechConfig synth = c.synthetic;
    if (synth.texts.empty()) synth.texts = c.vocabulary;
    std::vector<std::string> labels = c.vocabulary;
    FeatureConfig features;
    features.frame.sample_rate_hz = c.sample_rate_hz;
    Dataset data(TargetType::kClass, labels, features);
    data.AddSynthetic(synth, c.seed, num_threads);
    std::vector<std::vector<WordClip>> words(c.vocabulary.size());
    for (const Example& ex : data.Examples()) {
      const std::vector<float> samples = ResampleAudio(ex.audio->samples, ex.audio->sample_rate_hz, c.sample_rate_hz);
      words[static_cast<size_t>(ex.label)].push_back(WordClip{labels[static_cast<size_t>(ex.label)], ex.origin,
                                                              PrepareClip(samples, c)});
    }
    by_source.push_back(std::move(words));
  }

  clips_.resize(c.vocabulary.size());
  for (size_t w = 0; w < c.vocabulary.size(); ++w) {
    for (auto& source : by_source) {
      if (!source[w].empty()) clips_[w].push_back(std::move(source[w]));
    }
    if (clips_[w].empty()) {
      std::string names;
      for (const std::string& m : c.manifests) names += (names.empty() ? "" : ", ") + m;
      throw ConfigError("phrases.vocabulary: no clip of the word '" + c.vocabulary[w] + "' in " + names +
                        (c.synthetic.examples_per_text > 0 ? " or the synthetic clips" : ""));
    }
  }
}

int64_t PhraseComposer::NumClips() const {
  int64_t n = 0;
  for (const std::string& w : config_.vocabulary) n += NumClips(w);
  return n;
}

int64_t PhraseComposer::NumClips(std::string_view word) const {
  const auto it = std::find(config_.vocabulary.begin(), config_.vocabulary.end(), word);
  if (it == config_.vocabulary.end()) return 0;
  int64_t n = 0;
  for (const auto& source : clips_[static_cast<size_t>(it - config_.vocabulary.begin())]) {
    n += static_cast<int64_t>(source.size());
  }
  return n;
}

namespace {

// One clip of a word (sources: its clips per source, none empty) by the configured source choice.
const WordClip& PickClip(const std::vector<std::vector<WordClip>>& sources, SourceChoice choice,
                         std::mt19937_64& rng) {
  if (choice == SourceChoice::kEven) {
    const auto& clips = sources[PickIndex(sources.size(), rng)];
    return clips[PickIndex(clips.size(), rng)];
  }
  size_t total = 0;
  for (const auto& clips : sources) total += clips.size();
  size_t k = PickIndex(total, rng);
  for (const auto& clips : sources) {
    if (k < clips.size()) return clips[k];
    k -= clips.size();
  }
  return sources.back().back();  // not reached: k < total
}

}  // namespace

ComposedPhrase PhraseComposer::Compose(int64_t index) const {
  const PhraseComposerConfig& c = config_;
  std::mt19937_64 rng(Mix(Mix(c.seed) ^ static_cast<uint64_t>(index)));
  const double rate = c.sample_rate_hz;
  const int num_words =
      c.min_words + static_cast<int>(PickIndex(static_cast<size_t>(c.max_words - c.min_words + 1), rng));

  ComposedPhrase p;
  std::vector<float>& out = p.samples;
  out.assign(static_cast<size_t>(MsToSamples(UniformIn(c.edge_ms, rng), rate)), 0.0f);
  for (int k = 0; k < num_words; ++k) {
    if (k > 0) out.resize(out.size() + static_cast<size_t>(MsToSamples(UniformIn(c.pause_ms, rng), rate)), 0.0f);
    const size_t w = PickIndex(c.vocabulary.size(), rng);
    const WordClip& clip = PickClip(clips_[w], c.source_choice, rng);
    const double power = MeanPower(clip.samples);
    const double level_db = UniformIn(c.level_dbfs, rng);
    const double gain = power > 0.0 ? std::pow(10.0, level_db / 20.0) / std::sqrt(power) : 1.0;
    p.word_start.push_back(static_cast<int64_t>(out.size()));
    for (float s : clip.samples) out.push_back(static_cast<float>(s * gain));
    p.word_end.push_back(static_cast<int64_t>(out.size()));
    p.words.push_back(clip.word);
    p.origins.push_back(clip.origin);
    p.transcript += (k > 0 ? " " : "") + clip.word;
  }
  out.resize(out.size() + static_cast<size_t>(MsToSamples(UniformIn(c.edge_ms, rng), rate)), 0.0f);

  const auto n = static_cast<int64_t>(out.size());
  const bool add_noise = Uniform01(rng) < c.noise.probability;
  const bool pink = Uniform01(rng) < 0.5;
  const double snr_db = UniformIn(c.noise.snr_db, rng);
  const double floor_db = UniformIn(c.floor_dbfs, rng);
  if (add_noise) {
    const std::vector<float> noise = pink ? PinkNoise(n, rng) : WhiteNoise(n, rng);
    MixAtSnr(out, noise, snr_db);
  }
  const std::vector<float> floor = WhiteNoise(n, rng);
  const auto floor_gain = static_cast<float>(std::pow(10.0, floor_db / 20.0));
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::clamp(out[i] + floor_gain * floor[i], -1.0f, 1.0f);
  return p;
}

std::string WritePhrases(const PhraseComposer& composer, const std::string& dir) {
  const int64_t count = composer.Config().num_phrases;
  namespace fs = std::filesystem;
  const fs::path wav_dir = fs::path(dir) / "wav";
  std::error_code ec;
  fs::create_directories(wav_dir, ec);
  if (ec) throw IoError(wav_dir.string() + ": cannot create the folder: " + ec.message());
  const auto rate = static_cast<int>(std::lround(composer.Config().sample_rate_hz));
  std::ostringstream manifest;
  manifest << "path\ttranscript\tduration_s\torigins\n";
  for (int64_t i = 0; i < count; ++i) {
    const ComposedPhrase p = composer.Compose(i);
    char name[32];
    std::snprintf(name, sizeof(name), "%06lld.wav", static_cast<long long>(i));
    WritePcm16Wav((wav_dir / name).string(), p.samples, rate);
    std::string origins;
    for (const std::string& o : p.origins) origins += (origins.empty() ? "" : " + ") + o;
    char duration[32];
    std::snprintf(duration, sizeof(duration), "%.4f", static_cast<double>(p.samples.size()) / rate);
    manifest << "wav/" << name << "\t" << p.transcript << "\t" << duration << "\t" << origins << "\n";
  }
  const std::string tsv = (fs::path(dir) / "manifest.tsv").string();
  std::ofstream out(tsv, std::ios::binary);
  out << manifest.str();
  out.close();
  if (!out) throw IoError(tsv + ": cannot write the manifest");
  return tsv;
}

}  // namespace ossicle
