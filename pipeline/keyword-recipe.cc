#include "pipeline/keyword-recipe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <span>
#include <sstream>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/audio-file-writer.h"
#include "pipeline/manifest.h"
#include "pipeline/resample.h"
#include "pipeline/text-helpers.h"
#include "pipeline/training-data.h"

namespace ossicle {

namespace fs = std::filesystem;

namespace {

// Common English words (and a few names) that negatives are drawn from: sound-alikes by spelling distance
// and ordinary speech. Lower case, letters only.
constexpr const char* kWordList[] = {
    "about", "after", "again", "air", "alarm", "album", "alex", "alive", "all", "also", "always", "amazing",
    "answer", "apple", "area", "arm", "army", "art", "artist", "ask", "away", "baby", "back", "bad", "ball",
    "band", "bank", "bar", "base", "bath", "beach", "bear", "because", "bed", "before", "begin", "behind",
    "below", "best", "better", "big", "bird", "black", "blue", "board", "boat", "body", "book", "bottle",
    "box", "boy", "bread", "break", "bring", "brother", "brown", "build", "business", "busy", "buy", "cabin",
    "call", "camera", "car", "card", "care", "carpet", "carry", "carvers", "case", "cat", "center", "chair",
    "change", "charge", "check", "child", "city", "class", "clean", "clear", "clock", "close", "coffee",
    "cold", "color", "come", "computer", "corner", "could", "count", "country", "course", "cover", "cross",
    "cup", "dark", "darling", "davis", "day", "dear", "delivery", "dinner", "direction", "doctor", "dog",
    "door", "down", "draw", "dream", "dress", "drink", "drive", "early", "earth", "easy", "eight", "election",
    "electric", "eleven", "elvis", "energy", "engine", "enough", "evening", "every", "example", "excellent",
    "express", "eye", "face", "fact", "family", "far", "farm", "father", "favorite", "feel", "few", "field",
    "fine", "finish", "fire", "first", "fish", "five", "floor", "flower", "follow", "food", "foot", "forest",
    "forward", "four", "friend", "from", "front", "full", "game", "garage", "garden", "garlic", "gate",
    "general", "girl", "give", "glass", "good", "green", "ground", "group", "guitar", "hair", "half", "hand",
    "happy", "harbor", "hard", "harvest", "have", "head", "hear", "heart", "heavy", "hello", "help", "here",
    "high", "history", "hold", "home", "horse", "hospital", "hot", "hotel", "hour", "house", "idea",
    "important", "inside", "invoice", "island", "jacket", "jam", "jar", "jargon", "jazz", "jealous", "jersey",
    "job", "join", "joke", "journey", "juice", "jump", "just", "kitchen", "know", "lamp", "language", "large",
    "last", "late", "laugh", "learn", "left", "lesson", "letter", "light", "listen", "little", "live", "long",
    "look", "lucky", "machine", "market", "marvelous", "master", "matter", "maybe", "medicine", "meeting",
    "memory", "message", "middle", "minute", "mirror", "money", "morning", "mother", "mountain", "music",
    "name", "nervous", "never", "news", "next", "nice", "night", "nine", "north", "nothing", "number",
    "office", "okay", "open", "orange", "order", "other", "paper", "parents", "park", "party", "pass",
    "people", "perfect", "person", "phone", "picture", "piece", "place", "plant", "play", "please", "pocket",
    "power", "present", "problem", "purpose", "question", "quick", "radio", "rain", "reason", "record", "red",
    "remember", "river", "road", "room", "run", "salad", "school", "second", "service", "seven", "share",
    "ship", "shopping", "short", "show", "sister", "sleep", "slow", "small", "snow", "something", "song",
    "sorry", "sound", "south", "speak", "special", "star", "start", "station", "still", "stop", "story",
    "street", "strong", "student", "summer", "sunday", "surface", "system", "table", "talk", "taxi", "teacher",
    "telephone", "television", "thank", "thing", "think", "three", "ticket", "time", "today", "together",
    "tomorrow", "travel", "travis", "tree", "turn", "twelve", "under", "until", "usually", "valley", "various",
    "very", "video", "village", "visit", "voice", "wait", "walk", "wall", "warm", "water", "weather", "week",
    "welcome", "window", "winter", "without", "wonderful", "work", "world", "write", "yellow", "yesterday",
    "young", "zebra"};

// Onsets and endings the edits try (spellings espeak-ng and flite read as expected).
constexpr const char* kOnsets[] = {"b",  "d",  "f",  "g",  "h",  "k",  "l",  "m",  "n",  "p",  "r",  "s",
                                   "t",  "v",  "w",  "br", "ch", "cr", "dr", "fl", "gr", "sh", "st", "tr"};
constexpr const char* kEndings[] = {"n", "t", "d", "m", "l", "ck", "sh", "x", "ng", "ce", "ty", "ney"};

bool IsVowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y'; }

// Syllable-like pieces: each vowel run with the consonants before it; a run of two or more consonants
// between vowels gives its first consonant to the previous piece ("jarvis" -> "jar", "vis").
std::vector<std::string> Pieces(const std::string& w) {
  std::vector<size_t> starts;  // start of each piece
  size_t i = 0;
  while (i < w.size() && !(IsVowel(w[i]) && !(i == 0 && w[i] == 'y'))) ++i;
  if (i >= w.size()) return {w};
  starts.push_back(0);
  while (true) {
    while (i < w.size() && IsVowel(w[i])) ++i;  // the vowel run
    const size_t cons = i;
    while (i < w.size() && !IsVowel(w[i])) ++i;  // the consonants after it
    if (i >= w.size()) break;                   // no vowel follows: the rest belongs to this piece
    const size_t n = i - cons;
    starts.push_back(n >= 2 ? cons + 1 : cons);
  }
  std::vector<std::string> pieces;
  for (size_t k = 0; k < starts.size(); ++k) {
    const size_t end = k + 1 < starts.size() ? starts[k + 1] : w.size();
    pieces.push_back(w.substr(starts[k], end - starts[k]));
  }
  return pieces;
}

std::string JoinWith(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

}  // namespace

void KeywordRecipeConfig::Validate(std::string_view path) const {
  const std::string p(path);
  auto field = [&](const char* name) { return p.empty() ? std::string(name) : p + "." + name; };
  if (KeywordLetters(keyword).size() < 2) {
    throw ConfigError(field("keyword") + " = '" + keyword + "'; expected a word of at least two letters");
  }
  for (char c : keyword) {
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == ' ' || c == '\'' || c == '-')) {
      throw ConfigError(field("keyword") + " = '" + keyword + "'; character '" + std::string(1, c) +
                        "' is not allowed (letters, spaces, apostrophes and hyphens only)");
    }
  }
  auto at_least = [&](const char* name, int64_t value, int64_t lo) {
    if (value < lo) {
      throw ConfigError(field(name) + " = " + std::to_string(value) + "; expected >= " + std::to_string(lo));
    }
  };
  at_least("positive_examples", positive_examples, 1);
  at_least("sound_alikes", sound_alikes, 0);
  if (!(abrupt_starts >= 0.0 && abrupt_starts <= 1.0)) {
    throw ConfigError(RuleMessage(path, "abrupt_starts", abrupt_starts, "a share in [0, 1]"));
  }
  AugmentationConfig augmentation;
  augmentation.reverb = reverb;
  augmentation.edge_cut = edge_cut;
  augmentation.digital_silence = digital_silence;
  augmentation.Validate(p);
  at_least("other_words", other_words, 0);
  at_least("sentences", sentences, 0);
  at_least("examples_per_word", examples_per_word, 1);
  at_least("hidden_size", hidden_size, 1);
  at_least("num_layers", num_layers, 1);
  at_least("epochs", epochs, 1);
  if (members < 1 || members > 16) {
    throw ConfigError(RuleMessage(path, "members", members, "between 1 and 16"));
  }
  at_least("max_steps", max_steps, 0);
  at_least("max_extra_negatives", max_extra_negatives, 0);
  at_least("num_threads", num_threads, 1);
  if (!(smoothing_ms >= 0.0 && smoothing_ms <= 2000.0)) {
    throw ConfigError(RuleMessage(path, "smoothing_ms", smoothing_ms, "0 (automatic) or in (0, 2000] ms"));
  }
  if (engines.empty()) throw ConfigError(field("engines") + " is empty; expected at least one speech engine");
  rate.Validate(field("rate"), 0.25, 4.0);
  keyword_rate.Validate(field("keyword_rate"), 0.25, 4.0);
  pitch.Validate(field("pitch"), 0.25, 4.0);
  speed.Validate(field("speed"), 0.25, 4.0);
  if (!(target_fa_per_hour > 0) || !std::isfinite(target_fa_per_hour)) {
    throw ConfigError(field("target_fa_per_hour") + " = " + std::to_string(target_fa_per_hour) + "; expected > 0");
  }
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    throw ConfigError(field("learning_rate") + " = " + std::to_string(learning_rate) + "; expected > 0");
  }
}

std::string KeywordLetters(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string KeywordLabel(std::string_view keyword) {
  std::string out;
  bool gap = false;
  for (char c : keyword) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      if (gap && !out.empty()) out += '_';
      gap = false;
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      gap = true;
    }
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// `letters` is `kw` with a run of vowels cut off its start or its end ("alexa" -> "alex", "lexa"). Real speakers
// often swallow such an unstressed edge vowel, so these sound like the keyword itself, not like another word.
bool EdgeVowelCut(const std::string& letters, const std::string& kw) {
  if (letters.empty() || letters.size() >= kw.size()) return false;
  auto all_vowels = [](std::string_view s) { return std::all_of(s.begin(), s.end(), [](char c) { return IsVowel(c); }); };
  const std::string_view k(kw);
  const size_t cut = kw.size() - letters.size();
  return (k.substr(0, letters.size()) == letters && all_vowels(k.substr(letters.size()))) ||
         (k.substr(cut) == letters && all_vowels(k.substr(0, cut)));
}

int KeywordSyllables(std::string_view keyword) { return static_cast<int>(Pieces(KeywordLetters(keyword)).size()); }

double KeywordSmoothingMs(const KeywordRecipeConfig& recipe) {
  if (recipe.smoothing_ms > 0) return recipe.smoothing_ms;
  return KeywordSyllables(recipe.keyword) >= 2 ? 300.0 : 100.0;
}

std::vector<std::string> SoundAlikes(std::string_view keyword, size_t max_count, bool ending_edits) {
  // Multi-word keywords: the edits apply to the last word, the other words are kept
  // ("hey computer" -> "hey komputer"?) -- simpler and still close: edit the letters of the whole phrase
  // without spaces only for the dictionary distance; the spelling edits work on the longest word.
  const std::string kw = KeywordLetters(keyword);
  std::vector<std::string> words;
  {
    std::istringstream in(Lower(keyword));
    std::string w;
    while (in >> w) {
      const std::string l = KeywordLetters(w);
      if (!l.empty()) words.push_back(l);
    }
  }
  size_t main_index = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].size() > words[main_index].size()) main_index = i;
  }
  const std::string w = words.empty() ? kw : words[main_index];
  auto with_word = [&](const std::string& replacement) {
    if (words.size() <= 1) return replacement;
    std::vector<std::string> copy = words;
    copy[main_index] = replacement;
    return JoinWith(copy, " ");
  };

  // Onset edits.
  std::vector<std::string> onset_edits;
  size_t onset_end = 0;
  while (onset_end < w.size() && !(IsVowel(w[onset_end]) && !(onset_end == 0 && w[onset_end] == 'y'))) ++onset_end;
  const std::string onset = w.substr(0, onset_end);
  const std::string rest = w.substr(onset_end);
  if (!rest.empty()) {
    for (const char* o : kOnsets) {
      if (o != onset) onset_edits.push_back(with_word(o + rest));
    }
    if (!onset.empty()) onset_edits.push_back(with_word(rest));  // the onset dropped ("arvis")
  }
  // Ending edits: the final consonants replaced (or dropped).
  std::vector<std::string> ending_words;
  size_t coda_start = w.size();
  while (coda_start > 0 && !IsVowel(w[coda_start - 1])) --coda_start;
  if (ending_edits && coda_start > 0) {
    const std::string stem = w.substr(0, coda_start);
    const std::string coda = w.substr(coda_start);
    for (const char* e : kEndings) {
      if (e != coda) ending_words.push_back(with_word(stem + e));
    }
  }
  // Syllables alone and in shorter runs.
  std::vector<std::string> piece_edits;
  const std::vector<std::string> pieces = Pieces(w);
  for (size_t len = pieces.size() > 1 ? pieces.size() - 1 : 0; len >= 1; --len) {
    for (size_t start = 0; start + len <= pieces.size(); ++start) {
      std::string s;
      for (size_t k = start; k < start + len; ++k) s += pieces[k];
      piece_edits.push_back(s);
    }
  }
  for (size_t i = 0; i < words.size() && words.size() > 1; ++i) piece_edits.push_back(words[i]);
  // Nearest list words by spelling (normalised edit distance), then alphabetical.
  std::vector<std::pair<double, std::string>> ranked;
  for (const char* word : kWordList) {
    const std::string s(word);
    const double d = static_cast<double>(EditDistance(s, kw)) / static_cast<double>(std::max(s.size(), kw.size()));
    ranked.emplace_back(d, s);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> near_words;
  for (const auto& [d, s] : ranked) {
    if (d <= 0.75) near_words.push_back(s);
  }

  std::vector<std::string> out;
  std::set<std::string> seen;
  auto take = [&](const std::string& c) {
    const std::string letters = KeywordLetters(c);
    if (letters.size() < 2 || letters == kw || letters.find(kw) != std::string::npos) return false;
    if (EdgeVowelCut(letters, kw)) return false;
    if (!seen.insert(letters).second) return false;
    out.push_back(c);
    return true;
  };
  const std::vector<const std::vector<std::string>*> lists = {&onset_edits, &near_words, &ending_words,
                                                               &piece_edits};
  std::vector<size_t> next(lists.size(), 0);
  bool progress = true;
  while (out.size() < max_count && progress) {
    progress = false;
    for (size_t l = 0; l < lists.size() && out.size() < max_count; ++l) {
      while (next[l] < lists[l]->size()) {
        progress = true;
        if (take((*lists[l])[next[l]++])) break;
      }
    }
  }
  return out;
}

std::vector<std::string> OtherWords(std::string_view keyword, size_t count, const std::vector<std::string>& exclude,
                                    uint64_t seed) {
  const std::string kw = KeywordLetters(keyword);
  std::vector<std::string> pool;
  for (const char* word : kWordList) {
    const std::string s(word);
    if (s.find(kw) != std::string::npos || EditDistance(s, kw) <= 1) continue;
    if (std::find(exclude.begin(), exclude.end(), s) != exclude.end()) continue;
    pool.push_back(s);
  }
  std::mt19937_64 rng(seed ^ 0x6f74686572ULL);  // "other"
  for (size_t k = pool.size(); k > 1; --k) {
    const auto r = static_cast<size_t>(Uniform01(rng) * static_cast<double>(k));
    std::swap(pool[k - 1], pool[std::min(r, k - 1)]);
  }
  if (pool.size() > count) pool.resize(count);
  return pool;
}

double NegativeSplit::TrainSeconds() const {
  double s = 0;
  for (const auto& c : train) s += c.duration_s;
  return s;
}

double NegativeSplit::HeldoutSeconds() const {
  double s = 0;
  for (const auto& c : heldout) s += c.duration_s;
  return s;
}

NegativeSplit SplitNegatives(const std::string& manifest, std::string_view keyword, bool heldout) {
  // The header decides which columns to read.
  std::ifstream in(manifest);
  if (!in) throw IoError(manifest + ": cannot open the negatives manifest");
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  std::vector<std::string> names;
  {
    std::istringstream h(header);
    std::string name;
    while (std::getline(h, name, '\t')) names.push_back(name);
  }
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  ManifestColumns columns;
  for (const char* text : {"transcript", "word", "keyword", "label"}) {
    if (has(text)) {
      columns.transcript = text;
      break;
    }
  }
  if (has("duration_s")) {
    columns.duration = "duration_s";
  } else if (has("duration")) {
    columns.duration = "duration";
  }
  const std::vector<ManifestEntry> entries = ReadManifest(manifest, columns);
  if (entries.empty()) throw ConfigError(manifest + ": the negatives manifest has no entries");

  const std::string kw = KeywordLetters(keyword);
  const std::filesystem::path base = std::filesystem::path(manifest).parent_path();
  NegativeSplit split;
  std::vector<NegativeClip> clips;
  for (const ManifestEntry& e : entries) {
    if (!columns.transcript.empty() && KeywordLetters(e.transcript).find(kw) != std::string::npos) {
      ++split.dropped;
      continue;
    }
    NegativeClip c;
    c.path = std::filesystem::absolute(e.audio_path).lexically_normal().string();
    std::error_code ec;
    const std::string rel = std::filesystem::relative(c.path, std::filesystem::absolute(base), ec).string();
    const std::filesystem::path parent = std::filesystem::path(ec ? c.path : rel).parent_path();
    c.group = parent.empty() ? "." : parent.string();
    c.duration_s = e.duration_s;
    if (c.duration_s < 0) {
      try {
        c.duration_s = ProbeAudioFile(c.path).duration_s;
      } catch (const AudioError& err) {
        throw AudioError(EntryLocation(manifest, e) + ": " + err.what());
      }
    }
    clips.push_back(std::move(c));
  }
  if (!heldout) {
    split.train = std::move(clips);
    return split;
  }
  double total = 0;
  std::map<std::string, double> group_seconds;
  for (const auto& c : clips) {
    total += c.duration_s;
    group_seconds[c.group] += c.duration_s;
  }
  std::map<std::string, bool> group_heldout;
  size_t g = 0;
  for (const auto& [name, seconds] : group_seconds) group_heldout[name] = (g++ % 2) == 1;
  std::map<std::string, int64_t> index_in_group;
  for (auto& c : clips) {
    const bool large = group_seconds[c.group] > 0.15 * total;
    const bool held = large ? (index_in_group[c.group]++ % 2) == 1 : group_heldout[c.group];
    (held ? split.heldout : split.train).push_back(std::move(c));
  }
  return split;
}

int64_t KeywordDataPlan::PositiveClips() const {
  int64_t n = 0;
  for (const auto& t : synthetic_texts) {
    if (t.size() > label.size() && t.compare(t.size() - label.size() - 1, std::string::npos, "=" + label) == 0) ++n;
  }
  return n * examples_per_text;
}

int64_t KeywordDataPlan::NegativeSyntheticClips() const {
  return static_cast<int64_t>(synthetic_texts.size()) * examples_per_text - PositiveClips();
}

KeywordDataPlan PlanKeywordData(const KeywordRecipeConfig& recipe) {
  recipe.Validate();
  KeywordDataPlan plan;
  plan.label = KeywordLabel(recipe.keyword);
  const std::string spoken = Lower(Trim(recipe.keyword));
  std::string capital = spoken;
  capital[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(capital[0])));
  plan.spellings = {spoken, capital + ".", capital + "!", spoken + "?"};
  plan.sound_alikes = SoundAlikes(recipe.keyword, static_cast<size_t>(recipe.sound_alikes), recipe.ending_edits);
  plan.other_words =
      OtherWords(recipe.keyword, static_cast<size_t>(recipe.other_words), plan.sound_alikes, recipe.seed);
  {
    std::mt19937_64 rng(recipe.seed ^ 0x73656e74656eULL);  // "senten"
    std::vector<std::string> pool;
    const std::string kw = KeywordLetters(recipe.keyword);
    for (const char* word : kWordList) {
      if (std::string(word).find(kw) == std::string::npos && EditDistance(word, kw) > 1) pool.emplace_back(word);
    }
    for (int i = 0; i < recipe.sentences; ++i) {
      const auto n = 4 + static_cast<size_t>(Uniform01(rng) * 6.0);
      std::vector<std::string> words;
      for (size_t k = 0; k < n; ++k) {
        words.push_back(pool[std::min(pool.size() - 1, static_cast<size_t>(Uniform01(rng) * static_cast<double>(pool.size())))]);
      }
      if (i % 3 == 0 && !plan.sound_alikes.empty()) {
        const auto at = std::min(n, static_cast<size_t>(Uniform01(rng) * static_cast<double>(n + 1)));
        const auto which = std::min(plan.sound_alikes.size() - 1,
                                    static_cast<size_t>(Uniform01(rng) * static_cast<double>(plan.sound_alikes.size())));
        words.insert(words.begin() + static_cast<std::ptrdiff_t>(at), plan.sound_alikes[which]);
      }
      plan.sentences.push_back(JoinWith(words, " "));
    }
  }
  plan.examples_per_text = recipe.examples_per_word;
  // Positives: the spellings repeated until positive_examples clips are planned (each repetition draws
  // other voices, rates and pitches).
  const auto per_round = static_cast<int64_t>(plan.spellings.size()) * plan.examples_per_text;
  const int64_t rounds = std::max<int64_t>(1, (recipe.positive_examples + per_round - 1) / per_round);
  for (int64_t r = 0; r < rounds; ++r) {
    for (const auto& s : plan.spellings) plan.synthetic_texts.push_back(s + "=" + plan.label);
  }
  for (const auto& w : plan.sound_alikes) plan.synthetic_texts.push_back(w + "=_unknown_");
  for (const auto& w : plan.other_words) plan.synthetic_texts.push_back(w + "=_unknown_");
  for (const auto& s : plan.sentences) plan.synthetic_texts.push_back(s + "=_unknown_");
  if (!recipe.negatives.empty()) {
    plan.negatives = SplitNegatives(recipe.negatives, recipe.keyword, recipe.heldout_negatives.empty());
  }
  for (const auto& m : recipe.heldout_negatives) {
    NegativeSplit held = SplitNegatives(m, recipe.keyword, false);
    for (auto& c : held.train) plan.negatives.heldout.push_back(std::move(c));
    plan.negatives.dropped += held.dropped;
  }
  for (const auto& m : recipe.extra_negatives) {
    NegativeSplit s = SplitNegatives(m, recipe.keyword, false);
    plan.extra.dropped += s.dropped;
    for (auto& c : s.train) plan.extra.train.push_back(std::move(c));
  }
  const auto n_extra = static_cast<int64_t>(plan.extra.train.size());
  if (recipe.max_extra_negatives > 0 && n_extra > recipe.max_extra_negatives) {
    std::vector<NegativeClip> kept;
    for (int64_t k = 0; k < recipe.max_extra_negatives; ++k) {
      kept.push_back(plan.extra.train[static_cast<size_t>(k * n_extra / recipe.max_extra_negatives)]);
    }
    plan.extra.train = std::move(kept);
  }
  return plan;
}

void WriteKeywordData(const KeywordDataPlan& plan, const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<const std::vector<NegativeClip>*>& parts) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream out(path);
    out << "path\tlabel\tduration_s\n";
    for (const auto* part : parts) {
      for (const auto& c : *part) out << c.path << "\t_unknown_\t" << c.duration_s << "\n";
    }
    if (!out) throw IoError(path + ": cannot write the manifest");
  };
  write("negatives-train.tsv", {&plan.negatives.train, &plan.extra.train});
  write("background-train.tsv", {&plan.negatives.train});
  write("negatives-heldout.tsv", {&plan.negatives.heldout});
}

namespace {

FeatureConfig DefaultKeywordFeatures() {
  FeatureConfig f = FeatureConfig::KaldiFbank(40);
  f.cmvn.mode = CmvnMode::kUtterance;
  f.cmvn.normalize_variance = true;
  f.cmvn.skip_digital_silence = true;
  return f;
}

}  // namespace

// Index of the first sample whose magnitude reaches `fraction` of the peak (0 for silence).
size_t SpeechOnset(std::span<const float> audio, float fraction) {
  float peak = 0.0f;
  for (float x : audio) peak = std::max(peak, std::abs(x));
  if (peak <= 0.0f) return 0;
  for (size_t k = 0; k < audio.size(); ++k) {
    if (std::abs(audio[k]) >= fraction * peak) return k;
  }
  return 0;
}

int64_t WriteSyntheticClips(const KeywordRecipeConfig& recipe, const KeywordDataPlan& plan, const std::string& dir,
                            int num_threads) {
  SyntheticSpeechConfig synth;
  synth.texts = plan.synthetic_texts;
  synth.examples_per_text = plan.examples_per_text;
  synth.engines = recipe.engines;
  synth.rate = recipe.rate;
  synth.pitch = recipe.pitch;
  synth.cache_dir = recipe.cache_dir.empty() ? (std::filesystem::path(dir) / "tts-cache").string() : recipe.cache_dir;
  Dataset data(TargetType::kClass, {plan.label, "_unknown_"}, DefaultKeywordFeatures());
  data.AddSynthetic(synth, recipe.seed, num_threads, {{plan.label, recipe.keyword_rate}});

  const fs::path out_dir = fs::absolute(fs::path(dir) / "synthetic");
  fs::create_directories(out_dir);
  constexpr int kRate = 16000;
  std::ostringstream manifest;
  manifest << "path\tlabel\tduration_s\n";
  for (int64_t i = 0; i < data.Size(); ++i) {
    const Example& ex = data.At(i);
    std::vector<float> speech = ResampleAudio(ex.audio->samples, ex.audio->sample_rate_hz, kRate);
    std::mt19937_64 rng(recipe.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(i));
    // Leading silence, except for a share of the negatives: speech at the very start of a file (a clip cut
    // mid-sentence, a stream that starts while someone talks) is then "_unknown_" too. Without them the
    // model, which never saw speech in a file's first frames, fired there (docs/keywords.md).
    const bool negative = ex.label != 0;
    const bool abrupt = negative && Uniform01(rng) < recipe.abrupt_starts;
    const double left_s = UniformIn({0.1, 1.0}, rng);
    const auto left = abrupt ? size_t{0} : static_cast<size_t>(std::lround(left_s * kRate));
    // The engines' own leading silence goes too: the clip starts at its first sample above 10% of its peak.
    if (abrupt) speech.erase(speech.begin(), speech.begin() + static_cast<std::ptrdiff_t>(SpeechOnset(speech, 0.1f)));
    const auto right = static_cast<size_t>(std::lround(UniformIn({0.1, 1.0}, rng) * kRate));
    const std::vector<float> clip = PadWithNoiseFloor(speech, left, right, rng);
    char name[32];
    std::snprintf(name, sizeof(name), "%06lld.wav", static_cast<long long>(i));
    const std::string path = (out_dir / name).string();
    WritePcm16Wav(path, clip, kRate);
    manifest << path << "\t" << data.Labels()[static_cast<size_t>(ex.label)] << "\t"
             << static_cast<double>(clip.size()) / kRate << "\n";
  }
  const std::string tsv = (fs::path(dir) / "synthetic.tsv").string();
  std::ofstream out(tsv);
  out << manifest.str();
  if (!out) throw IoError(tsv + ": cannot write the manifest");
  return data.Size();
}

std::string KeywordExperimentYaml(const KeywordRecipeConfig& recipe, const KeywordDataPlan& plan,
                                  const std::string& dir) {
  const std::filesystem::path d = std::filesystem::absolute(dir).lexically_normal();
  auto q = [](const std::string& s) { return nlohmann::json(s).dump(); };  // a YAML double-quoted scalar
  auto num = [](double v) {
    std::ostringstream s;
    s.precision(6);
    s << v;
    return s.str();
  };
  const bool have_train_negatives = !plan.negatives.train.empty() || !plan.extra.train.empty();
  const bool have_background = !plan.negatives.train.empty();
  std::ostringstream y;
  y << "# Written by `ossicle keyword-train` for the keyword " << q(recipe.keyword) << ".\n";
  y << "name: " << q("keyword-" + plan.label) << "\n";
  y << "description: " << q("keyword spotter for '" + recipe.keyword + "' trained from its spelling") << "\n";
  y << "seed: " << recipe.seed << "\n";
  y << "target: class\n";
  y << "labels: [" << q(plan.label) << ", \"_unknown_\"]\n";
  if (!recipe.features_file.empty()) {
    y << "features_file: " << q(std::filesystem::absolute(recipe.features_file).lexically_normal().string()) << "\n";
  } else {
    y << "features:\n"
         "  type: fbank\n"
         "  frame: {sample_rate_hz: 16000, frame_length_ms: 25, frame_shift_ms: 10, padding: snip_edges,\n"
         "          sample_scale: 32768, dither: 1, remove_dc_offset: true, preemphasis_coefficient: 0.97,\n"
         "          window: povey}\n"
         "  mel: {num_mel_bins: 40, low_freq_hz: 20, high_freq_hz: 0, scale: htk, triangles: mel}\n"
         "  cmvn: {mode: utterance, normalize_variance: true, skip_digital_silence: true}\n";
  }
  y << "model: {cell: lstm, hidden_size: " << recipe.hidden_size << ", num_layers: " << recipe.num_layers
    << ", bidirectional: true, head: frame}\n";
  y << "data:\n";
  y << "  train:\n";
  y << "    - manifest: " << q((d / "synthetic.tsv").string()) << "\n"
    << "      columns: {label: label, duration: duration_s}\n";
  if (have_train_negatives) {
    y << "    - manifest: " << q((d / "negatives-train.tsv").string()) << "\n"
      << "      columns: {label: label, duration: duration_s}\n";
  }
  y << "  loader:\n"
       "    batch_size: 32\n"
       "    workers: 2\n"
       "    cache_dir: " << q((d / "feature-cache").string()) << "\n";
  y << "    augmentation:\n";
  if (recipe.edge_cut.probability > 0) {
    const EdgeCutAugmentConfig& e = recipe.edge_cut;
    y << "      edge_cut: {probability: " << num(e.probability) << ", cut_s: {min: " << num(e.cut_s.min)
      << ", max: " << num(e.cut_s.max) << "}, labels: " << q(e.labels) << "}\n";
  }
  y << "      speed: {probability: 0.5, factor: {min: " << num(recipe.speed.min) << ", max: " << num(recipe.speed.max)
    << "}}\n"
       "      shift: {probability: 0.3, shift_ms: {min: -50, max: 50}}\n"
       "      gain: {probability: 0.8, gain_db: {min: -20, max: 6}}\n";
  if (recipe.reverb.probability > 0) {
    const ReverbAugmentConfig& r = recipe.reverb;
    y << "      reverb: {probability: " << num(r.probability) << ", rt60_s: {min: " << num(r.rt60_s.min)
      << ", max: " << num(r.rt60_s.max) << "}, drr_db: {min: " << num(r.drr_db.min) << ", max: " << num(r.drr_db.max)
      << "}}\n";
  }
  if (have_background) {
    y << "      noise: {probability: 0.7, snr_db: {min: 0, max: 25}, white_weight: 1, pink_weight: 1,\n"
         "              background_weight: 2, background_manifest: "
      << q((d / "background-train.tsv").string()) << "}\n";
  } else {
    y << "      noise: {probability: 0.7, snr_db: {min: 0, max: 25}, white_weight: 1, pink_weight: 1}\n";
  }
  if (recipe.digital_silence.probability > 0) {
    const DigitalSilenceAugmentConfig& z = recipe.digital_silence;
    y << "      digital_silence: {probability: " << num(z.probability) << ", pad_s: {min: " << num(z.pad_s.min)
      << ", max: " << num(z.pad_s.max) << "}}\n";
  }
  y << "      spec_augment: {probability: 0.5, time_masks: 1, max_time_mask_frames: 8, freq_masks: 1,\n"
       "                     max_freq_mask_bins: 5}\n";
  y << "training:\n";
  y << "  epochs: " << recipe.epochs << "\n";
  if (recipe.max_steps > 0) y << "  max_steps: " << recipe.max_steps << "\n";
  y << "  optimizer: {type: adamw, learning_rate: " << num(recipe.learning_rate)
    << ", weight_decay: 0.01, clip_grad_norm: 5}\n";
  y << "  schedule: {type: warmup_cosine, warmup_steps: 30, min_learning_rate: 0.0001}\n";
  y << "  dropout: 0.1\n";
  if (recipe.frame_targets != FrameTargets::kClip) {
    y << "  frame_targets: " << EnumToString(recipe.frame_targets) << "\n";
  }
  y << "  num_threads: " << recipe.num_threads << "\n";
  y << "  log_every_steps: 20\n";
  y << "outputs: {dir: " << q(d.string()) << ", model: model.safetensors}\n";
  return y.str();
}

}  // namespace ossicle
