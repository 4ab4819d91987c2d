// DataConfig / SyntheticSpeechConfig validation and the Dataset (manifests, synthetic examples, targets).
// The BatchLoader is in batch-loader.cc.
#include "pipeline/training-data.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "features/errors.h"
#include "models/decoder-support.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/config-yaml.h"
#include "pipeline/resample.h"
#include "pipeline/seed-hash.h"

namespace ossicle {
namespace {

std::string Indexed(std::string_view path, std::string_view field, size_t i) {
  return JoinKey(path, field) + "[" + std::to_string(i) + "]";
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Decodes UTF-8 into code points; ConfigError naming `where` on a malformed sequence.
std::u32string DecodeUtf8(std::string_view text, std::string_view where) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    int extra = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      extra = 1;
      cp = b0 & 0x1Fu;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2;
      cp = b0 & 0x0Fu;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3;
      cp = b0 & 0x07u;
    } else {
      throw ConfigError(std::string(where) + ": invalid UTF-8 at byte " + std::to_string(i) + " of '" +
                        std::string(text) + "'");
    }
    if (i + static_cast<size_t>(extra) >= text.size()) {
      throw ConfigError(std::string(where) + ": truncated UTF-8 sequence at byte " + std::to_string(i) + " of '" +
                        std::string(text) + "'");
    }
    for (int k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      if ((b & 0xC0) != 0x80) {
        throw ConfigError(std::string(where) + ": invalid UTF-8 at byte " + std::to_string(i) + " of '" +
                          std::string(text) + "'");
      }
      cp = (cp << 6) | (b & 0x3Fu);
    }
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

std::string EncodeUtf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

std::string FormatFactor3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

std::vector<float> PadWithNoiseFloor(std::span<const float> speech, size_t left, size_t right, std::mt19937_64& rng) {
  const double floor_db = UniformIn({-70.0, -45.0}, rng);
  std::vector<float> clip(left + speech.size() + right, 0.0f);
  std::copy(speech.begin(), speech.end(), clip.begin() + static_cast<std::ptrdiff_t>(left));
  const std::vector<float> noise = WhiteNoise(static_cast<int64_t>(clip.size()), rng);
  const auto amplitude = static_cast<float>(std::pow(10.0, floor_db / 20.0));
  for (size_t k = 0; k < clip.size(); ++k) clip[k] = std::clamp(clip[k] + amplitude * noise[k], -1.0f, 1.0f);
  return clip;
}

// ---- configs ----

void SyntheticSpeechConfig::Validate(std::string_view key_path) const {
  if (examples_per_text < 0 || examples_per_text > 100000) {
    throw ConfigError(RuleMessage(key_path, "examples_per_text", examples_per_text, "in [0, 100000]"));
  }
  rate.Validate(JoinKey(key_path, "rate"), 0.25, 4.0);
  pitch.Validate(JoinKey(key_path, "pitch"), 0.25, 4.0);
  padding_s.Validate(JoinKey(key_path, "padding_s"), 0.0, 5.0);
  if (examples_per_text == 0) return;
  if (texts.empty()) {
    throw ConfigError(JoinKey(key_path, "texts") + " is empty; expected at least one text when examples_per_text = " +
                      std::to_string(examples_per_text));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    const size_t eq = t.find('=');
    const std::string_view text = std::string_view(t).substr(0, eq);
    if (IsBlank(text)) {
      throw ConfigError(Indexed(key_path, "texts", i) + " = '" + t + "'; expected a non-blank text");
    }
    if (eq != std::string::npos && IsBlank(std::string_view(t).substr(eq + 1))) {
      throw ConfigError(Indexed(key_path, "texts", i) + " = '" + t + "'; expected a label after '='");
    }
  }
  if (engines.empty()) throw ConfigError(JoinKey(key_path, "engines") + " is empty; expected at least one engine");
  const std::vector<std::string> known = SpeechEngineNames();
  for (size_t i = 0; i < engines.size(); ++i) {
    if (std::find(known.begin(), known.end(), engines[i]) == known.end()) {
      throw ConfigError(Indexed(key_path, "engines", i) + " = '" + engines[i] +
                        "'; expected espeak-ng, flite or festival");
    }
  }
  for (size_t i = 0; i < voices.size(); ++i) {
    const size_t colon = voices[i].find(':');
    const std::string engine = voices[i].substr(0, colon);
    if (colon == std::string::npos || colon + 1 == voices[i].size()) {
      throw ConfigError(Indexed(key_path, "voices", i) + " = '" + voices[i] + "'; expected engine:voice");
    }
    if (std::find(engines.begin(), engines.end(), engine) == engines.end()) {
      throw ConfigError(Indexed(key_path, "voices", i) + " = '" + voices[i] + "'; engine '" + engine +
                        "' is not in " + JoinKey(key_path, "engines"));
    }
  }
}

void DataConfig::Validate(std::string_view key_path) const {
  if (batch_size < 1 || batch_size > 1000000) {
    throw ConfigError(RuleMessage(key_path, "batch_size", batch_size, "in [1, 1000000]"));
  }
  if (max_batch_frames < 0) throw ConfigError(RuleMessage(key_path, "max_batch_frames", max_batch_frames, ">= 0"));
  if (bucket_pool_batches < 0) {
    throw ConfigError(RuleMessage(key_path, "bucket_pool_batches", bucket_pool_batches, ">= 0"));
  }
  if (workers < 0 || workers > 64) throw ConfigError(RuleMessage(key_path, "workers", workers, "in [0, 64]"));
  if (prefetch_batches < 1 || prefetch_batches > 1024) {
    throw ConfigError(RuleMessage(key_path, "prefetch_batches", prefetch_batches, "in [1, 1024]"));
  }
  if (!(max_duration_s > 0) || !std::isfinite(max_duration_s)) {
    throw ConfigError(RuleMessage(key_path, "max_duration_s", max_duration_s, "> 0"));
  }
  augmentation.Validate(JoinKey(key_path, "augmentation"));
  synthetic.Validate(JoinKey(key_path, "synthetic"));
}

// ---- Dataset ----

Dataset::Dataset(TargetType type, std::vector<std::string> labels, const FeatureConfig& features)
    : type_(type), labels_(std::move(labels)), features_(features) {
  features_.Validate();
  const std::string what = type_ == TargetType::kClass ? "class labels" : "tokens";
  if (labels_.empty()) throw ConfigError("dataset: no " + what + "; expected at least one");
  if (type_ == TargetType::kTokens && labels_.size() < 2) {
    throw ConfigError("dataset: tokens hold only the blank; expected the blank then at least one character");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i].empty()) throw ConfigError("dataset: " + what + "[" + std::to_string(i) + "] is empty");
    if (!seen.insert(labels_[i]).second) {
      throw ConfigError("dataset: " + what + "[" + std::to_string(i) + "] = '" + labels_[i] + "' appears twice");
    }
  }
  if (type_ == TargetType::kTokens) {
    // Word tokens (U+2581 + word, SentencePiece's marker) are spelled as the decoders spell them; otherwise
    // every token is one character.
    const bool word_tokens =
        std::any_of(labels_.begin() + 1, labels_.end(), [](const std::string& l) { return StartsWithWordMarker(l); });
    tokens_.resize(labels_.size());
    for (size_t i = 1; i < labels_.size(); ++i) {
      tokens_[i] = DecodeUtf8(labels_[i], "dataset: tokens[" + std::to_string(i) + "]");
      if (!word_tokens && tokens_[i].size() != 1) {
        throw ConfigError("dataset: tokens[" + std::to_string(i) + "] = '" + labels_[i] +
                          "'; expected one character (tokens[0] is the blank), or word tokens that start with "
                          "U+2581");
      }
    }
    if (word_tokens) token_set_ = std::make_shared<const CtcTokenSet>(labels_, 0, "", "dataset");
  }
  if (features_.cmvn.mode == CmvnMode::kGlobal) {
    cmvn_ = std::make_shared<const CmvnStats>(CmvnStats::Load(features_.cmvn.stats_file));
  }
}

int32_t Dataset::ClassIndex(std::string_view label, std::string_view where) const {
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] == label) return static_cast<int32_t>(i);
  }
  std::string choices;
  for (size_t i = 0; i < labels_.size() && i < 40; ++i) choices += (i ? ", " : "") + labels_[i];
  if (labels_.size() > 40) choices += ", ...";
  throw ConfigError(std::string(where) + ": label '" + std::string(label) + "' is not one of the model's labels (" +
                    choices + ")");
}

std::vector<int32_t> Dataset::Tokenize(std::string_view text, std::string_view where) const {
  if (type_ != TargetType::kTokens) throw ConfigError(std::string(where) + ": this dataset has class targets, not tokens");
  if (token_set_) return TokenizeWords(text, where);
  const std::u32string cps = DecodeUtf8(text, where);
  std::vector<int32_t> out;
  out.reserve(cps.size());
  for (size_t k = 0; k < cps.size(); ++k) {
    int32_t id = -1;
    for (size_t i = 1; i < tokens_.size(); ++i) {
      if (tokens_[i][0] == cps[k]) {
        id = static_cast<int32_t>(i);
        break;
      }
    }
    if (id < 0) {
      throw ConfigError(std::string(where) + ": character '" + EncodeUtf8(cps[k]) + "' (position " +
                        std::to_string(k + 1) + " of '" + std::string(text) + "') is not in the token set");
    }
    out.push_back(id);
  }
  if (out.empty()) throw ConfigError(std::string(where) + ": empty transcript; expected at least one token");
  return out;
}

std::vector<int32_t> Dataset::TokenizeWords(std::string_view text, std::string_view where) const {
  std::vector<int32_t> out;
  const std::vector<std::string> words = SplitList(text, ' ');
  int position = 0;
  for (const std::string& word : words) {
    if (word.empty()) continue;  // several spaces in a row
    ++position;
    const auto spelled = token_set_->SpellWord(word);
    if (!spelled) {
      throw ConfigError(std::string(where) + ": word '" + word + "' (word " + std::to_string(position) + " of '" +
                        std::string(text) + "') cannot be spelled with the word tokens");
    }
    out.insert(out.end(), spelled->begin(), spelled->end());
  }
  if (out.empty()) throw ConfigError(std::string(where) + ": empty transcript; expected at least one word");
  return out;
}

int64_t Dataset::AddManifest(const std::string& tsv_path, const ManifestColumns& columns,
                             std::string_view unknown_label) {
  if (type_ == TargetType::kClass && columns.label.empty()) {
    throw ConfigError(tsv_path + ": manifest.columns.label is empty; a dataset of class targets needs the label column");
  }
  if (type_ == TargetType::kTokens && columns.transcript.empty()) {
    throw ConfigError(tsv_path +
                      ": manifest.columns.transcript is empty; a dataset of token targets needs the transcript column");
  }
  int32_t unknown = -1;
  if (!unknown_label.empty()) unknown = ClassIndex(unknown_label, tsv_path + ": unknown_label");
  const std::vector<ManifestEntry> entries = ReadManifest(tsv_path, columns);
  std::vector<Example> added;
  added.reserve(entries.size());
  for (const ManifestEntry& e : entries) {
    Example ex;
    ex.origin = EntryLocation(tsv_path, e);
    ex.id = e.audio_path;
    ex.audio_path = e.audio_path;
    if (type_ == TargetType::kClass) {
      const auto it = std::find(labels_.begin(), labels_.end(), e.label);
      if (it != labels_.end()) {
        ex.label = static_cast<int32_t>(it - labels_.begin());
      } else if (unknown >= 0) {
        ex.label = unknown;
      } else {
        ex.label = ClassIndex(e.label, ex.origin + ": column '" + columns.label + "'");
      }
    } else {
      ex.tokens = Tokenize(e.transcript, ex.origin + ": column '" + columns.transcript + "'");
    }
    ex.duration_s = e.duration_s;
    if (ex.duration_s < 0) {
      try {
        ex.duration_s = ProbeAudioFile(e.audio_path).duration_s;
      } catch (const AudioError& err) {
        throw AudioError(ex.origin + ": " + err.what());
      }
    }
    added.push_back(std::move(ex));
  }
  for (auto& ex : added) examples_.push_back(std::move(ex));
  return static_cast<int64_t>(entries.size());
}

int64_t Dataset::AddSynthetic(const SyntheticSpeechConfig& config, uint64_t seed, int num_threads,
                              const std::map<std::string, UniformRange>& rate_by_label) {
  config.Validate();
  for (const auto& [label, range] : rate_by_label) range.Validate("rate for label '" + label + "'", 0.25, 4.0);
  if (config.examples_per_text == 0) return 0;

  // Engines and their voices (all, or the listed ones).
  struct EngineVoices {
    std::unique_ptr<SpeechSynthesizer> engine;
    std::vector<std::string> voices;
  };
  std::vector<EngineVoices> engines;
  for (const std::string& name : config.engines) {
    EngineVoices ev;
    ev.engine = MakeSpeechSynthesizer(name);
    const std::vector<std::string> all = ev.engine->Voices();
    for (size_t i = 0; i < config.voices.size(); ++i) {
      const std::string& entry = config.voices[i];
      if (entry.compare(0, name.size() + 1, name + ":") != 0) continue;
      const std::string voice = entry.substr(name.size() + 1);
      if (std::find(all.begin(), all.end(), voice) == all.end()) {
        std::string choices;
        for (const auto& v : all) choices += (choices.empty() ? "" : ", ") + v;
        throw ConfigError("data.synthetic.voices[" + std::to_string(i) + "] = '" + entry + "': " + name +
                          " has no voice '" + voice + "'; it has " + choices);
      }
      ev.voices.push_back(voice);
    }
    if (config.voices.empty()) ev.voices = all;
    if (ev.voices.empty()) {
      throw ConfigError("data.synthetic.voices lists no voice of engine '" + name +
                        "' (listed in data.synthetic.engines); add one as " + name + ":<voice> or remove the engine");
    }
    engines.push_back(std::move(ev));
  }

  // The plan: every random choice is made here, in a fixed order, before any synthesis runs.
  struct Job {
    size_t engine = 0;
    SynthesisSpec spec;
    int32_t label = -1;
    std::vector<int32_t> tokens;
  };
  std::vector<Job> jobs;
  std::mt19937_64 rng(Mix64(seed ^ 0x73796e7468ULL));  // "synth": synthetic data draws apart from others
  const auto num_engines = engines.size();
  for (size_t i = 0; i < config.texts.size(); ++i) {
    const std::string& entry = config.texts[i];
    const size_t eq = entry.find('=');
    const std::string text = entry.substr(0, eq);
    const std::string label = eq == std::string::npos ? text : entry.substr(eq + 1);
    const std::string where = "data.synthetic.texts[" + std::to_string(i) + "]";
    int32_t class_index = -1;
    std::vector<int32_t> tokens;
    const auto own_rate = rate_by_label.find(label);
    const UniformRange& rate = own_rate == rate_by_label.end() ? config.rate : own_rate->second;
    if (type_ == TargetType::kClass) {
      class_index = ClassIndex(label, where);
    } else {
      tokens = Tokenize(text, where);
    }
    // Per engine, its voices in a random order, used in turn.
    std::vector<std::vector<size_t>> order(num_engines);
    std::vector<size_t> next(num_engines, 0);
    for (size_t e = 0; e < num_engines; ++e) {
      order[e].resize(engines[e].voices.size());
      for (size_t k = 0; k < order[e].size(); ++k) order[e][k] = k;
      for (size_t k = order[e].size(); k > 1; --k) {
        const auto r = static_cast<size_t>(Uniform01(rng) * static_cast<double>(k));
        std::swap(order[e][k - 1], order[e][std::min(r, k - 1)]);
      }
    }
    for (int j = 0; j < config.examples_per_text; ++j) {
      Job job;
      job.engine = (i + static_cast<size_t>(j)) % num_engines;
      const auto& voices = engines[job.engine].voices;
      job.spec.engine = engines[job.engine].engine->Engine();
      job.spec.voice = voices[order[job.engine][next[job.engine]++ % voices.size()]];
      job.spec.text = text;
      // Rounded to 3 decimals: the value synthesised is the value in the cache key and the example id.
      job.spec.rate = std::round(UniformIn(rate, rng) * 1000.0) / 1000.0;
      job.spec.pitch = std::round(UniformIn(config.pitch, rng) * 1000.0) / 1000.0;
      job.spec.seed = 0;  // variety comes from voice, rate and pitch; a fixed seed lets runs share the cache
      job.label = class_index;
      job.tokens = tokens;
      jobs.push_back(std::move(job));
    }
  }

  // Synthesis on num_threads threads; results land by job index, so the order never depends on timing.
  const SynthesisCache cache(config.cache_dir);
  std::vector<std::shared_ptr<const SynthesizedAudio>> audio(jobs.size());
  std::vector<std::exception_ptr> errors(jobs.size());
  std::atomic<size_t> next_job{0};
  auto work = [&] {
    while (true) {
      const size_t k = next_job++;
      if (k >= jobs.size()) return;
      try {
        const SynthesisSpec& s = jobs[k].spec;
        audio[k] = std::make_shared<const SynthesizedAudio>(
            cache.Get(*engines[jobs[k].engine].engine, s.text, s.voice, s.rate, s.pitch, s.seed));
      } catch (...) {
        errors[k] = std::current_exception();
        next_job = jobs.size();  // stop the others early
      }
    }
  };
  const int threads = std::clamp(num_threads, 1, 64);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }

  // Padding (its own random stream, so the synthesis plan and cache do not depend on it). The id names the
  // padding, so the feature cache keeps padded and bare clips apart.
  std::vector<std::string> padding_ids(jobs.size());
  if (config.padding_s.max > 0) {
    for (size_t k = 0; k < jobs.size(); ++k) {
      std::mt19937_64 pad_rng(Mix64(seed ^ 0x706164ULL) + k);  // "pad"
      const double rate_hz = audio[k]->sample_rate_hz;
      const auto left = static_cast<size_t>(std::lround(UniformIn(config.padding_s, pad_rng) * rate_hz));
      const auto right = static_cast<size_t>(std::lround(UniformIn(config.padding_s, pad_rng) * rate_hz));
      SynthesizedAudio padded;
      padded.sample_rate_hz = rate_hz;
      padded.samples = PadWithNoiseFloor(audio[k]->samples, left, right, pad_rng);
      audio[k] = std::make_shared<const SynthesizedAudio>(std::move(padded));
      padding_ids[k] = ":pad=" + std::to_string(left) + "+" + std::to_string(right);
    }
  }

  for (size_t k = 0; k < jobs.size(); ++k) {
    const SynthesisSpec& s = jobs[k].spec;
    Example ex;
    ex.id = "synthetic:" + s.engine + ":" + s.voice + ":rate=" + FormatFactor3(s.rate) + ":pitch=" +
            FormatFactor3(s.pitch) + padding_ids[k] + ":" + s.text;
    ex.origin = "data.synthetic (" + s.engine + " voice " + s.voice + ", rate " + FormatFactor3(s.rate) + ", pitch " +
                FormatFactor3(s.pitch) + ", text '" + s.text + "')";
    ex.audio = audio[k];
    ex.synthesis = s;
    ex.label = jobs[k].label;
    ex.tokens = jobs[k].tokens;
    ex.duration_s = audio[k]->DurationSeconds();
    examples_.push_back(std::move(ex));
  }
  return static_cast<int64_t>(jobs.size());
}

void Dataset::Add(Example example) {
  const std::string where = example.origin.empty() ? "example '" + example.id + "'" : example.origin;
  if (example.audio_path.empty() == !example.audio) {
    throw ConfigError(where + ": expected exactly one audio source (a file path or in-memory audio)");
  }
  if (example.audio && !(example.audio->sample_rate_hz > 0)) {
    throw ConfigError(where + ": in-memory audio has sample rate " + std::to_string(example.audio->sample_rate_hz) +
                      " Hz; expected > 0");
  }
  if (type_ == TargetType::kClass) {
    if (example.label < 0 || static_cast<size_t>(example.label) >= labels_.size()) {
      throw ConfigError(where + ": class index " + std::to_string(example.label) + "; expected in [0, " +
                        std::to_string(labels_.size() - 1) + "]");
    }
  } else {
    if (example.tokens.empty()) throw ConfigError(where + ": no tokens; expected at least one");
    for (int32_t t : example.tokens) {
      if (t < 1 || static_cast<size_t>(t) >= labels_.size()) {
        throw ConfigError(where + ": token id " + std::to_string(t) + "; expected in [1, " +
                          std::to_string(labels_.size() - 1) + "] (0 is the blank)");
      }
    }
  }
  if (example.id.empty()) example.id = example.audio_path.empty() ? where : example.audio_path;
  if (example.origin.empty()) example.origin = where;
  if (example.duration_s < 0) {
    if (example.audio) {
      example.duration_s = example.audio->DurationSeconds();
    } else {
      try {
        example.duration_s = ProbeAudioFile(example.audio_path).duration_s;
      } catch (const AudioError& err) {
        throw AudioError(where + ": " + err.what());
      }
    }
  }
  examples_.push_back(std::move(example));
}

double Dataset::TotalDurationSeconds() const {
  double total = 0;
  for (const auto& e : examples_) total += std::max(0.0, e.duration_s);
  return total;
}

std::vector<int64_t> Dataset::LabelCounts() const {
  std::vector<int64_t> counts(labels_.size(), 0);
  for (const auto& e : examples_) {
    if (type_ == TargetType::kClass) {
      ++counts[static_cast<size_t>(e.label)];
    } else {
      for (int32_t t : e.tokens) ++counts[static_cast<size_t>(t)];
    }
  }
  return counts;
}

std::vector<float> Dataset::LoadWaveform(int64_t i) const {
  const Example& ex = At(i);
  const double rate = features_.frame.sample_rate_hz;
  try {
    if (ex.audio) return ResampleAudio(ex.audio->samples, ex.audio->sample_rate_hz, rate);
    AudioReadConfig read;
    read.sample_rate_hz = rate;
    std::string warning;
    std::vector<float> wave = ReadAudioFile(ex.audio_path, read, &warning);
    if (!warning.empty()) {
      std::lock_guard<std::mutex> lock(audio_warnings_->mutex);
      if (audio_warnings_->seen.insert(ex.audio_path).second) {
        audio_warnings_->pending.push_back(ex.origin + ": " + warning);
      }
    }
    return wave;
  } catch (const AudioError& err) {
    throw AudioError(ex.origin + ": " + err.what());
  }
}

std::vector<std::string> Dataset::TakeAudioWarnings() const {
  std::lock_guard<std::mutex> lock(audio_warnings_->mutex);
  return std::exchange(audio_warnings_->pending, {});
}

FeatureMatrix Dataset::ExampleFeatures(int64_t i) const {
  const std::vector<float> wave = LoadWaveform(i);
  FeatureMatrix f = ossicle::ComputeFeatures(features_, wave, cmvn_);
  if (f.num_frames == 0) {
    throw AudioError(At(i).origin + ": " + std::to_string(wave.size()) +
                     " samples yield no feature frame; expected audio of at least one frame");
  }
  return f;
}

}  // namespace ossicle
