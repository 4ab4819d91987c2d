#include "models/ctc-decoder.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "features/errors.h"
#include "models/decoder-support.h"

namespace ossicle {

namespace {

// A token of a label sequence and the frames [start, end) it is emitted on.
struct Emission {
  int token = 0;
  int64_t start = 0;
  int64_t end = 0;
};

Transcript MakeTranscript(const CtcTokenSet& set, const std::vector<Emission>& seq, double shift_s,
                          double confidence) {
  Transcript t;
  t.confidence = confidence;
  bool new_word = true;
  for (const Emission& e : seq) {
    if (set.IsSeparator(e.token)) {
      new_word = true;
      continue;
    }
    std::string piece = set.Token(e.token);
    if (set.StartsWord(e.token)) {
      new_word = true;
      piece.erase(0, kWordMarker.size());
    }
    const double start_s = static_cast<double>(e.start) * shift_s;
    const double end_s = static_cast<double>(e.end) * shift_s;
    t.tokens.push_back(TokenTime{set.Token(e.token), start_s, end_s});
    if (new_word || t.words.empty()) {
      if (!t.text.empty()) t.text += ' ';
      t.words.push_back(TokenTime{"", start_s, end_s});
      new_word = false;
    }
    t.text += piece;
    t.words.back().token += piece;
    t.words.back().end_s = end_s;
  }
  return t;
}

void ValidateCommon(std::string_view path, int blank_index) {
  if (blank_index < 0) throw ConfigError(RuleMessage(path, "blank_index", blank_index, ">= 0"));
}

void CheckShift(std::string_view path, double frame_shift_s) {
  if (!std::isfinite(frame_shift_s) || frame_shift_s <= 0.0) {
    throw ConfigError(std::string(path) + ": frame shift " + std::to_string(frame_shift_s) + " s; expected > 0");
  }
}

uint64_t Mix(uint64_t x) {  // SplitMix64's finaliser: a cheap, well-spread 64-bit hash step
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t ExtendHash(uint64_t h, int token) { return Mix(h ^ (static_cast<uint64_t>(token) + 1) * 0x100000001B3ull); }

}  // namespace

// ------------------------------------------------------------------------------------------------------
// Greedy

void CtcGreedyConfig::Validate(std::string_view path) const { ValidateCommon(path, blank_index); }

struct CtcGreedyDecoder::Impl {
  Impl(CtcTokenSet token_set, double frame_shift_s) : set(std::move(token_set)), shift_s(frame_shift_s) {}

  CtcTokenSet set;
  double shift_s;
  std::vector<Emission> seq;
  int prev = -1;  // token emitted on the previous frame, -1 after a blank or a gap
  double sum_log = 0.0;
  int64_t frames = 0;
  int64_t next_frame = 0;

  Transcript Current() const {
    const double confidence = frames > 0 ? std::exp(sum_log / static_cast<double>(frames)) : 0.0;
    return MakeTranscript(set, seq, shift_s, confidence);
  }
};

CtcGreedyDecoder::CtcGreedyDecoder(const CtcGreedyConfig& config, std::vector<std::string> tokens,
                                   double frame_shift_s, std::string_view path) {
  config.Validate(path);
  CheckShift(path, frame_shift_s);
  impl_ = std::make_unique<Impl>(CtcTokenSet(std::move(tokens), config.blank_index, config.word_separator, path),
                                 frame_shift_s);
}

CtcGreedyDecoder::~CtcGreedyDecoder() = default;
CtcGreedyDecoder::CtcGreedyDecoder(CtcGreedyDecoder&&) noexcept = default;
CtcGreedyDecoder& CtcGreedyDecoder::operator=(CtcGreedyDecoder&&) noexcept = default;

void CtcGreedyDecoder::AcceptFrames(const MatrixF& log_probs, int64_t first_frame) {
  Impl& d = *impl_;
  CheckLogProbChunk(log_probs, first_frame, d.next_frame, d.set.Size(), "CTC greedy decoder");
  if (log_probs.rows() == 0) return;
  if (first_frame > d.next_frame) d.prev = -1;  // a gap counts as blank
  for (Eigen::Index r = 0; r < log_probs.rows(); ++r) {
    const int64_t f = first_frame + r;
    Eigen::Index k = 0;
    const float best = log_probs.row(r).maxCoeff(&k);  // the first of equal maxima
    const int token = static_cast<int>(k);
    d.sum_log += static_cast<double>(best);
    ++d.frames;
    if (token == d.set.Blank()) {
      d.prev = -1;
    } else if (token == d.prev) {
      d.seq.back().end = f + 1;
    } else {
      d.seq.push_back(Emission{token, f, f + 1});
      d.prev = token;
    }
  }
  d.next_frame = first_frame + log_probs.rows();
}

Transcript CtcGreedyDecoder::Partial() const { return impl_->Current(); }
Transcript CtcGreedyDecoder::InputFinished() { return impl_->Current(); }

void CtcGreedyDecoder::Reset() {
  Impl& d = *impl_;
  d.seq.clear();
  d.prev = -1;
  d.sum_log = 0.0;
  d.frames = 0;
  d.next_frame = 0;
}

int64_t CtcGreedyDecoder::NumFramesAccepted() const { return impl_->next_frame; }

// ------------------------------------------------------------------------------------------------------
// Prefix beam search

void CtcBeamConfig::Validate(std::string_view path) const {
  ValidateCommon(path, blank_index);
  // 4096 hypotheses x every token per frame is already far beyond any useful beam.
  if (beam_width < 1 || beam_width > 4096) throw ConfigError(RuleMessage(path, "beam_width", beam_width, "in [1, 4096]"));
  if (max_tokens_per_frame < 0) {
    throw ConfigError(RuleMessage(path, "max_tokens_per_frame", max_tokens_per_frame, ">= 0 (0 = all tokens)"));
  }
}

namespace {

// Prefix trie over the allowed words' token spellings.
struct WordTrie {
  struct Node {
    std::map<int, int> children;
    bool word_end = false;
  };
  std::vector<Node> nodes{Node{}};  // node 0 is the root

  void Add(const std::vector<int>& spelling) {
    int n = 0;
    for (int token : spelling) {
      auto it = nodes[static_cast<size_t>(n)].children.find(token);
      if (it == nodes[static_cast<size_t>(n)].children.end()) {
        nodes.push_back(Node{});
        const int child = static_cast<int>(nodes.size()) - 1;
        nodes[static_cast<size_t>(n)].children.emplace(token, child);
        n = child;
      } else {
        n = it->second;
      }
    }
    nodes[static_cast<size_t>(n)].word_end = true;
  }
  int Child(int n, int token) const {
    const auto& c = nodes[static_cast<size_t>(n)].children;
    const auto it = c.find(token);
    return it == c.end() ? -1 : it->second;
  }
  bool AtBoundary(int n) const { return n == 0 || nodes[static_cast<size_t>(n)].word_end; }
};

// A prefix is a chain of nodes shared between hypotheses: extending a prefix adds one node, so a frame
// costs O(beam x tokens) whatever the length of the text. Token times are chains of the same kind.
struct PrefixNode {
  int token = 0;
  uint64_t hash = 0;  // of the whole token sequence
  size_t length = 0;
  std::shared_ptr<const PrefixNode> parent;
};
using PrefixPtr = std::shared_ptr<const PrefixNode>;

struct TimeNode {
  Emission emission;
  std::shared_ptr<const TimeNode> parent;
};
using TimePtr = std::shared_ptr<const TimeNode>;

// Drops one reference to a chain without recursing through the destructors of a long unshared tail.
template <class Node>
void ReleaseChain(std::shared_ptr<const Node>& p) {
  while (p && p.use_count() == 1) {
    std::shared_ptr<const Node> parent = p->parent;
    p.reset();
    p = std::move(parent);
  }
  p.reset();
}

constexpr uint64_t kEmptyHash = 0x6F737369636C65ull;  // any fixed value: the hash of the empty prefix

uint64_t HashOf(const PrefixPtr& p) { return p ? p->hash : kEmptyHash; }
size_t LengthOf(const PrefixPtr& p) { return p ? p->length : 0; }
int LastOf(const PrefixPtr& p) { return p ? p->token : -1; }

// Two chains of equal length hold the same tokens. Equal prefixes usually share their nodes, so this
// stops at the first common node.
bool SameChain(PrefixPtr a, PrefixPtr b) {
  while (a != b) {
    if (!a || !b || a->token != b->token) return false;
    a = a->parent;
    b = b->parent;
  }
  return true;
}

std::vector<Emission> Unroll(TimePtr p) {
  std::vector<Emission> out;
  for (; p; p = p->parent) out.push_back(p->emission);
  std::reverse(out.begin(), out.end());
  return out;
}

struct Hyp {
  PrefixPtr prefix;  // null: the empty prefix
  int node = -1;     // trie node; -1 without a word list
  double lpb = kNegInf, lpnb = kNegInf;  // score ending in blank / in the last token (sum or max kind)
  double vb = kNegInf, vnb = kNegInf;    // best alignment ending in blank / in the last token
  TimePtr tb, tnb;                       // token times along those best alignments
};

// Where a candidate state's best alignment comes from.
struct Source {
  int hyp = -1;
  int state = 0;  // 0: blank-ending, 1: token-ending
  int kind = 0;   // 0: same prefix (times shared), 1: repeat of the last token, 2: a new token
};

struct Candidate {
  int src = 0;     // hypothesis it extends
  int token = -1;  // -1: the same prefix as src
  uint64_t hash = 0;
  size_t length = 0;
  int node = -1;
  double lpb = kNegInf, lpnb = kNegInf, vb = kNegInf, vnb = kNegInf;
  Source sb, snb;
};

}  // namespace

struct CtcBeamDecoder::Impl {
  Impl(const CtcBeamConfig& beam_config, CtcTokenSet token_set, double frame_shift_s)
      : config(beam_config), set(std::move(token_set)), shift_s(frame_shift_s) {}
  ~Impl() { ClearBeam(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  CtcBeamConfig config;
  CtcTokenSet set;
  double shift_s = 0.01;
  bool constrained = false;
  WordTrie trie;
  std::vector<Hyp> beam;
  int64_t frames = 0;
  int64_t next_frame = 0;

  // Work buffers, kept between frames.
  std::vector<Candidate> cands;
  std::unordered_map<uint64_t, std::vector<int>> index;
  std::vector<int> order, tokens_this_frame;
  std::vector<double> score;

  double Combine(double a, double b) const {
    return config.path_score == CtcPathScore::kSum ? LogAddExp(a, b) : std::max(a, b);
  }

  // The trie node after `token` from node n; -2 when the word list forbids it.
  int Transition(int n, int token) const {
    if (!constrained) return -1;
    const int child = trie.Child(n, token);
    if (child >= 0) return child;
    if (set.IsSeparator(token)) return trie.AtBoundary(n) ? 0 : -2;
    if (trie.nodes[static_cast<size_t>(n)].word_end && (set.StartsWord(token) || !set.HasSeparator())) {
      const int fresh = trie.Child(0, token);
      return fresh >= 0 ? fresh : -2;
    }
    return -2;
  }

  bool Final(const Hyp& h) const { return !constrained || trie.AtBoundary(h.node); }

  static void Release(Hyp& h) {
    ReleaseChain(h.prefix);
    ReleaseChain(h.tb);
    ReleaseChain(h.tnb);
  }
  void ClearBeam() {
    for (Hyp& h : beam) Release(h);
    beam.clear();
  }

  void InitBeam() {
    ClearBeam();
    Hyp h;
    h.node = constrained ? 0 : -1;
    h.lpb = 0.0;
    h.vb = 0.0;
    beam.push_back(std::move(h));
    frames = 0;
    next_frame = 0;
  }

  // The candidate's sequence as (all but the last token, the last token).
  std::pair<PrefixPtr, int> Split(const Candidate& c) const {
    const PrefixPtr& p = beam[static_cast<size_t>(c.src)].prefix;
    if (c.token >= 0) return {p, c.token};
    if (!p) return {nullptr, -1};
    return {p->parent, p->token};
  }

  bool SameSequence(const Candidate& a, const Candidate& b) const {
    if (a.length != b.length) return false;
    const auto [pa, ta] = Split(a);
    const auto [pb, tb] = Split(b);
    return ta == tb && SameChain(pa, pb);
  }

  int GetCandidate(int src, int token, int node) {
    const Hyp& h = beam[static_cast<size_t>(src)];
    Candidate probe;
    probe.src = src;
    probe.token = token;
    probe.hash = token >= 0 ? ExtendHash(HashOf(h.prefix), token) : HashOf(h.prefix);
    probe.length = LengthOf(h.prefix) + (token >= 0 ? 1 : 0);
    probe.node = token >= 0 ? node : h.node;
    std::vector<int>& bucket = index[probe.hash];
    for (int c : bucket) {
      if (SameSequence(cands[static_cast<size_t>(c)], probe)) return c;
    }
    cands.push_back(probe);
    bucket.push_back(static_cast<int>(cands.size()) - 1);
    return static_cast<int>(cands.size()) - 1;
  }

  void Add(int c, int state, double lp, double v, Source src) {
    Candidate& cand = cands[static_cast<size_t>(c)];
    if (state == 0) {
      cand.lpb = Combine(cand.lpb, lp);
      if (v > cand.vb) {
        cand.vb = v;
        cand.sb = src;
      }
    } else {
      cand.lpnb = Combine(cand.lpnb, lp);
      if (v > cand.vnb) {
        cand.vnb = v;
        cand.snb = src;
      }
    }
  }

  // `token`: the last token of the candidate's sequence (the token of a new run).
  TimePtr TimesFrom(const Source& s, int token, int64_t frame) const {
    const Hyp& h = beam[static_cast<size_t>(s.hyp)];
    const TimePtr& base = s.state == 0 ? h.tb : h.tnb;
    if (s.kind == 1) {
      Emission e = base->emission;
      e.end = frame + 1;
      return std::make_shared<const TimeNode>(TimeNode{e, base->parent});
    }
    if (s.kind == 2) return std::make_shared<const TimeNode>(TimeNode{Emission{token, frame, frame + 1}, base});
    return base;
  }

  void Step(const float* lp, int64_t frame) {
    const int blank = set.Blank();
    tokens_this_frame.clear();
    for (int k = 0; k < set.Size(); ++k) {
      if (k != blank) tokens_this_frame.push_back(k);
    }
    if (config.max_tokens_per_frame > 0 && static_cast<int>(tokens_this_frame.size()) > config.max_tokens_per_frame) {
      const auto keep = static_cast<std::ptrdiff_t>(config.max_tokens_per_frame);
      std::partial_sort(tokens_this_frame.begin(), tokens_this_frame.begin() + keep, tokens_this_frame.end(),
                        [&](int a, int b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
      tokens_this_frame.resize(static_cast<size_t>(keep));
      std::sort(tokens_this_frame.begin(), tokens_this_frame.end());
    }
    cands.clear();
    index.clear();
    const double lp_blank = lp[blank];
    for (int i = 0; i < static_cast<int>(beam.size()); ++i) {
      const Hyp& h = beam[static_cast<size_t>(i)];
      const double total = Combine(h.lpb, h.lpnb);
      const double vbest = std::max(h.vb, h.vnb);
      const int best_state = h.vb >= h.vnb ? 0 : 1;
      const int last = LastOf(h.prefix);
      // The prefix stays: a blank after either state, or the last token repeated.
      int same = -1;
      if (lp_blank > kNegInf && total > kNegInf) {
        same = GetCandidate(i, -1, h.node);
        Add(same, 0, total + lp_blank, vbest + lp_blank, Source{i, best_state, 0});
      }
      if (last >= 0 && h.lpnb > kNegInf && lp[last] > -std::numeric_limits<float>::infinity()) {
        if (same < 0) same = GetCandidate(i, -1, h.node);
        Add(same, 1, h.lpnb + lp[last], h.vnb + lp[last], Source{i, 1, 1});
      }
      // The prefix grows by one token.
      for (int token : tokens_this_frame) {
        const double lt = lp[token];
        if (lt == kNegInf) continue;
        const int node = Transition(h.node, token);
        if (node == -2) continue;
        double from_lp, from_v;
        Source src{i, best_state, 2};
        if (token == last) {  // a repeated token needs a blank in between
          from_lp = h.lpb;
          from_v = h.vb;
          src.state = 0;
        } else {
          from_lp = total;
          from_v = vbest;
        }
        if (from_lp == kNegInf) continue;
        Add(GetCandidate(i, token, node), 1, from_lp + lt, from_v + lt, src);
      }
    }
    // Keep the best beam_width candidates. Ties are broken by length, then by the sequence's hash, so the
    // result never depends on hash-table order (equal hashes of different sequences are ~2^-64 events).
    order.resize(cands.size());
    std::iota(order.begin(), order.end(), 0);
    score.resize(cands.size());
    for (size_t c = 0; c < cands.size(); ++c) score[c] = Combine(cands[c].lpb, cands[c].lpnb);
    const auto better = [&](int a, int b) {
      const auto ua = static_cast<size_t>(a), ub = static_cast<size_t>(b);
      if (score[ua] != score[ub]) return score[ua] > score[ub];
      if (cands[ua].length != cands[ub].length) return cands[ua].length < cands[ub].length;
      if (cands[ua].hash != cands[ub].hash) return cands[ua].hash < cands[ub].hash;
      return a < b;
    };
    const size_t keep = std::min(order.size(), static_cast<size_t>(config.beam_width));
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), better);
    std::vector<Hyp> next;
    next.reserve(keep);
    for (size_t r = 0; r < keep; ++r) {
      const Candidate& c = cands[static_cast<size_t>(order[r])];
      if (score[static_cast<size_t>(order[r])] == kNegInf) break;
      Hyp h;
      const PrefixPtr& base = beam[static_cast<size_t>(c.src)].prefix;
      h.prefix = c.token >= 0 ? std::make_shared<const PrefixNode>(PrefixNode{c.token, c.hash, c.length, base}) : base;
      h.node = c.node;
      h.lpb = c.lpb;
      h.lpnb = c.lpnb;
      h.vb = c.vb;
      h.vnb = c.vnb;
      // A new token run (kind 2) may come from another hypothesis than c.src: one that is c's sequence
      // minus its last token, merged into c when c keeps c.src's prefix (c.token = -1). The run's token
      // is then the last token of that prefix, never c.token.
      const int last_token = Split(c).second;
      if (c.vb > kNegInf) h.tb = TimesFrom(c.sb, last_token, frame);
      if (c.vnb > kNegInf) h.tnb = TimesFrom(c.snb, last_token, frame);
      next.push_back(std::move(h));
    }
    if (next.empty()) {
      // Every hypothesis became impossible (a frame where all allowed tokens have probability 0): keep the
      // old beam so that decoding can go on.
      return;
    }
    ClearBeam();
    beam = std::move(next);
  }

  // Missing frames count as blank: every prefix ends in blank afterwards.
  void Gap() {
    for (Hyp& h : beam) {
      h.lpb = Combine(h.lpb, h.lpnb);
      h.lpnb = kNegInf;
      if (h.vnb > h.vb) {
        h.vb = h.vnb;
        h.tb = h.tnb;
      }
      h.vnb = kNegInf;
      ReleaseChain(h.tnb);
    }
  }

  Transcript Make(const Hyp& h) const {
    const std::vector<Emission> times = Unroll(h.vb >= h.vnb ? h.tb : h.tnb);
    const double total = Combine(h.lpb, h.lpnb);
    const double confidence = frames > 0 ? std::exp(total / static_cast<double>(frames)) : 0.0;
    return MakeTranscript(set, times, shift_s, confidence);
  }

  std::string Text(const Hyp& h) const {
    std::vector<Emission> seq;
    for (PrefixPtr p = h.prefix; p; p = p->parent) seq.push_back(Emission{p->token, 0, 0});
    std::reverse(seq.begin(), seq.end());
    return MakeTranscript(set, seq, shift_s, 0.0).text;
  }
};

CtcBeamDecoder::CtcBeamDecoder(const CtcBeamConfig& config, std::vector<std::string> tokens, double frame_shift_s,
                               std::string_view path, std::vector<std::string> words) {
  config.Validate(path);
  CheckShift(path, frame_shift_s);
  impl_ = std::make_unique<Impl>(
      config, CtcTokenSet(std::move(tokens), config.blank_index, config.word_separator, path), frame_shift_s);
  Impl& d = *impl_;
  std::vector<std::pair<std::string, std::string>> entries;  // word, where it came from
  const bool from_config = words.empty();
  if (from_config) words = config.words;
  if (!words.empty()) {
    const std::string field = from_config ? JoinPath(path, "words") + ": " : std::string();
    for (size_t i = 0; i < words.size(); ++i) entries.emplace_back(words[i], field + "word " + std::to_string(i + 1));
  } else if (!config.word_list_file.empty()) {
    std::ifstream in(config.word_list_file, std::ios::binary);
    if (!in) {
      throw IoError(config.word_list_file + ": cannot open word list (" + JoinPath(path, "word_list_file") +
                    "): " + std::strerror(errno));
    }
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::string word = Trimmed(line);
      if (word.empty() || word[0] == '#') continue;
      entries.emplace_back(word, config.word_list_file + ":" + std::to_string(n));
    }
    if (in.bad()) throw IoError(config.word_list_file + ": read error");
    if (entries.empty()) {
      throw ConfigError(config.word_list_file + ": the word list (" + JoinPath(path, "word_list_file") +
                        ") holds no words");
    }
  }
  for (const auto& [word, where] : entries) {
    if (word.find_first_of(" \t") != std::string::npos) {
      throw ConfigError(where + ": '" + word + "' contains a space; expected one word per line");
    }
    const auto spelled = d.set.SpellWord(word);
    if (!spelled) throw ConfigError(where + ": word '" + word + "' cannot be spelled with the model's tokens");
    d.trie.Add(*spelled);
  }
  d.constrained = !entries.empty();
  d.InitBeam();
}

CtcBeamDecoder::~CtcBeamDecoder() = default;
CtcBeamDecoder::CtcBeamDecoder(CtcBeamDecoder&&) noexcept = default;
CtcBeamDecoder& CtcBeamDecoder::operator=(CtcBeamDecoder&&) noexcept = default;

void CtcBeamDecoder::AcceptFrames(const MatrixF& log_probs, int64_t first_frame) {
  Impl& d = *impl_;
  CheckLogProbChunk(log_probs, first_frame, d.next_frame, d.set.Size(), "CTC beam decoder");
  if (log_probs.rows() == 0) return;
  if (first_frame > d.next_frame) d.Gap();
  for (Eigen::Index r = 0; r < log_probs.rows(); ++r) {
    d.Step(log_probs.row(r).data(), first_frame + r);
    ++d.frames;
  }
  d.next_frame = first_frame + log_probs.rows();
}

Transcript CtcBeamDecoder::Partial() const {
  const Impl& d = *impl_;
  for (const Hyp& h : d.beam) {
    if (d.Final(h)) return d.Make(h);
  }
  return d.Make(d.beam.front());
}

Transcript CtcBeamDecoder::InputFinished() {
  const Impl& d = *impl_;
  for (const Hyp& h : d.beam) {
    if (d.Final(h)) return d.Make(h);
  }
  return Transcript{};
}

void CtcBeamDecoder::Reset() { impl_->InitBeam(); }

int64_t CtcBeamDecoder::NumFramesAccepted() const { return impl_->next_frame; }

std::vector<std::pair<std::string, double>> CtcBeamDecoder::Hypotheses() const {
  const Impl& d = *impl_;
  std::vector<std::pair<std::string, double>> out;
  for (const Hyp& h : d.beam) out.emplace_back(d.Text(h), d.Combine(h.lpb, h.lpnb));
  return out;
}

}  // namespace ossicle
