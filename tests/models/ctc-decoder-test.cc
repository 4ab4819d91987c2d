// CTC greedy and prefix beam search: known texts from hand-made posteriors, collapse across chunk
// boundaries, chunking invariance, beam width 1 against greedy, exact beam scores against a brute-force
// enumeration of every alignment, and word lists that force known words.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>

#include "features/errors.h"
#include "models/ctc-decoder.h"
#include "support/message-matcher.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

using test::HasMessage;

constexpr double kShift = 0.02;
// blank, word separator, then letters.
const std::vector<std::string> kTokens = {"<blank>", "|", "e", "n", "o", "s", "y", "z"};

int Id(char c) {
  if (c == '_') return 0;
  if (c == '|') return 1;
  for (size_t i = 2; i < kTokens.size(); ++i) {
    if (kTokens[i][0] == c) return static_cast<int>(i);
  }
  throw std::logic_error("no token");
}

// One frame per character of `path` ('_' = blank): that token at `peak`, the rest shared evenly.
MatrixF PathPosteriors(const std::string& path, float peak = 0.8f) {
  const auto n = static_cast<Eigen::Index>(kTokens.size());
  MatrixF p = MatrixF::Constant(static_cast<Eigen::Index>(path.size()), n, (1.0f - peak) / static_cast<float>(n - 1));
  for (size_t f = 0; f < path.size(); ++f) p(static_cast<Eigen::Index>(f), Id(path[f])) = peak;
  return p.array().log().matrix();
}

MatrixF RandomPosteriors(int64_t frames, Eigen::Index dim, uint32_t seed, float sharpness) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sharpness);
  MatrixF x(frames, dim);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float m = x.row(r).maxCoeff();
    const float lse = m + std::log((x.row(r).array() - m).exp().sum());
    x.row(r).array() -= lse;
  }
  return x;
}

template <class Decoder>
Transcript DecodeChunked(Decoder& d, const MatrixF& lp, int max_chunk, uint32_t seed) {
  d.Reset();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(0, max_chunk);
  for (int64_t pos = 0; pos < lp.rows();) {
    const int64_t n = std::min<int64_t>(len(rng), lp.rows() - pos);
    const MatrixF chunk = lp.middleRows(pos, n);
    d.AcceptFrames(chunk, pos);
    pos += n;
  }
  return d.InputFinished();
}

template <class Decoder>
Transcript DecodeAll(Decoder& d, const MatrixF& lp) {
  d.Reset();
  d.AcceptFrames(lp, 0);
  return d.InputFinished();
}

void RequireSame(const Transcript& a, const Transcript& b, bool compare_confidence = true) {
  REQUIRE(a.text == b.text);
  REQUIRE(a.tokens.size() == b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    INFO("token " << i);
    CHECK(a.tokens[i].token == b.tokens[i].token);
    CHECK(a.tokens[i].start_s == b.tokens[i].start_s);
    CHECK(a.tokens[i].end_s == b.tokens[i].end_s);
  }
  REQUIRE(a.words.size() == b.words.size());
  if (compare_confidence) CHECK(a.confidence == Approx(b.confidence).epsilon(1e-9));
}

TEST_CASE("greedy decoding of hand-made posteriors gives the known text and times", "[models][ctc]") {
  CtcGreedyDecoder d({}, kTokens, kShift);
  //                             0123456789012
  const Transcript t = DecodeAll(d, PathPosteriors("_yy_ess_|noo_"));
  CHECK(t.text == "yes no");
  REQUIRE(t.tokens.size() == 5);
  CHECK(t.tokens[0].token == "y");
  CHECK(t.tokens[0].start_s == Approx(0.02));
  CHECK(t.tokens[0].end_s == Approx(0.06));
  CHECK(t.tokens[2].token == "s");
  CHECK(t.tokens[2].start_s == Approx(0.10));
  CHECK(t.tokens[2].end_s == Approx(0.14));
  CHECK(t.tokens[4].token == "o");
  CHECK(t.tokens[4].end_s == Approx(0.24));
  REQUIRE(t.words.size() == 2);
  CHECK(t.words[0].token == "yes");
  CHECK(t.words[0].start_s == Approx(0.02));
  CHECK(t.words[0].end_s == Approx(0.14));
  CHECK(t.words[1].token == "no");
  CHECK(t.words[1].start_s == Approx(0.18));
  CHECK(t.words[1].end_s == Approx(0.24));
  // Every frame's best token has probability 0.8.
  CHECK(t.confidence == Approx(0.8).epsilon(1e-6));
}

TEST_CASE("greedy: repeats merge unless a blank separates them, separators collapse", "[models][ctc]") {
  CtcGreedyDecoder d({}, kTokens, kShift);
  CHECK(DecodeAll(d, PathPosteriors("nnn")).text == "n");
  CHECK(DecodeAll(d, PathPosteriors("n_n")).text == "nn");
  CHECK(DecodeAll(d, PathPosteriors("||no|||on||")).text == "no on");
  CHECK(DecodeAll(d, PathPosteriors("____")).text.empty());
  const Transcript none = DecodeAll(d, MatrixF(0, static_cast<Eigen::Index>(kTokens.size())));
  CHECK(none.text.empty());
  CHECK(none.confidence == 0.0);
}

TEST_CASE("greedy collapses a repeated token across a chunk boundary, a gap counts as blank", "[models][ctc]") {
  const MatrixF lp = PathPosteriors("_nn_oo_");
  CtcGreedyDecoder d({}, kTokens, kShift);
  d.AcceptFrames(lp.topRows(2), 0);  // "_n" | "n_oo_"
  d.AcceptFrames(lp.bottomRows(5), 2);
  Transcript t = d.InputFinished();
  CHECK(t.text == "no");
  REQUIRE(t.tokens.size() == 2);
  CHECK(t.tokens[0].end_s == Approx(0.06));

  d.Reset();
  d.AcceptFrames(PathPosteriors("_n"), 0);
  d.AcceptFrames(PathPosteriors("n_"), 10);  // frames 2..9 missing
  t = d.InputFinished();
  CHECK(t.text == "nn");
  REQUIRE(t.tokens.size() == 2);
  CHECK(t.tokens[1].start_s == Approx(0.20));
}

TEST_CASE("greedy and beam: any chunking gives the whole-input transcript", "[models][ctc][streaming]") {
  const MatrixF lp = RandomPosteriors(300, static_cast<Eigen::Index>(kTokens.size()), 11, 2.5f);
  CtcGreedyDecoder greedy({}, kTokens, kShift);
  CtcBeamConfig bc;
  bc.beam_width = 8;
  CtcBeamDecoder beam(bc, kTokens, kShift);
  const Transcript g = DecodeAll(greedy, lp);
  const Transcript b = DecodeAll(beam, lp);
  CHECK(g.tokens.size() > 20);
  for (uint32_t seed : {1u, 2u}) {
    for (int max_chunk : {1, 5, 64}) {
      INFO("seed " << seed << ", chunks up to " << max_chunk);
      RequireSame(g, DecodeChunked(greedy, lp, max_chunk, seed));
      RequireSame(b, DecodeChunked(beam, lp, max_chunk, seed));
    }
  }
}

TEST_CASE("Viterbi beam search of width 1 is greedy decoding", "[models][ctc][beam]") {
  CtcGreedyDecoder greedy({}, kTokens, kShift);
  CtcBeamConfig bc;
  bc.beam_width = 1;
  bc.path_score = CtcPathScore::kMax;
  CtcBeamDecoder beam(bc, kTokens, kShift);
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    const MatrixF lp = RandomPosteriors(200, static_cast<Eigen::Index>(kTokens.size()), seed, 1.5f);
    RequireSame(DecodeAll(greedy, lp), DecodeAll(beam, lp));
  }
}

TEST_CASE("prefix beam search of width 1 is greedy decoding on peaky posteriors", "[models][ctc][beam]") {
  // With sum scores, width 1 can differ from greedy where frames are uncertain; on confident frames
  // (one token > 0.5 per frame, as trained CTC models give) it cannot.
  CtcGreedyDecoder greedy({}, kTokens, kShift);
  CtcBeamConfig bc;
  bc.beam_width = 1;
  CtcBeamDecoder beam(bc, kTokens, kShift);
  const Transcript g = DecodeAll(greedy, PathPosteriors("__yyy__eee_s_|||nn_oo___", 0.9f));
  const Transcript b = DecodeAll(beam, PathPosteriors("__yyy__eee_s_|||nn_oo___", 0.9f));
  CHECK(g.text == "yes no");
  RequireSame(g, b, false);
  CHECK(b.confidence >= g.confidence);  // the sum over alignments is at least the best one
}

// Every alignment of T frames over V symbols, collapsed: the labelling probabilities P(l | x).
std::map<std::vector<int>, double> BruteForce(const MatrixF& lp) {
  const auto T = static_cast<int>(lp.rows()), V = static_cast<int>(lp.cols());
  std::map<std::vector<int>, double> out;
  std::vector<int> path(static_cast<size_t>(T), 0);
  while (true) {
    double logp = 0.0;
    std::vector<int> label;
    int prev = 0;
    for (int t = 0; t < T; ++t) {
      const int s = path[static_cast<size_t>(t)];
      logp += static_cast<double>(lp(t, s));
      if (s != 0 && s != prev) label.push_back(s);
      prev = s;
    }
    out[label] += std::exp(logp);
    int i = 0;
    while (i < T && ++path[static_cast<size_t>(i)] == V) path[static_cast<size_t>(i++)] = 0;
    if (i == T) break;
  }
  return out;
}

TEST_CASE("beam scores match a brute-force enumeration of every alignment", "[models][ctc][beam]") {
  // Tokens: blank, n, o; 6 frames: 3^6 = 729 alignments, at most 2^7 - 1 prefixes, so a beam of 128 keeps
  // them all and its scores are exact.
  const std::vector<std::string> tokens = {"<blank>", "n", "o"};
  const MatrixF lp = RandomPosteriors(6, 3, 3, 1.0f);
  const auto truth = BruteForce(lp);
  const auto text = [&](const std::vector<int>& l) {
    std::string s;
    for (int k : l) s += tokens[static_cast<size_t>(k)];
    return s;
  };
  std::map<std::string, double> by_text;
  for (const auto& [l, p] : truth) by_text[text(l)] = p;
  double sum = 0.0, best_p = 0.0;
  std::string best;
  for (const auto& [s, p] : by_text) {
    sum += p;
    if (p > best_p) best_p = p, best = s;
  }
  REQUIRE(sum == Approx(1.0).epsilon(1e-6));

  CtcBeamConfig bc;
  bc.beam_width = 128;
  CtcBeamDecoder beam(bc, tokens, kShift);
  beam.AcceptFrames(lp, 0);
  const auto hyps = beam.Hypotheses();
  REQUIRE(hyps.size() == by_text.size());
  CHECK(hyps.front().first == best);
  for (const auto& [s, logp] : hyps) {
    INFO("labelling '" << s << "'");
    CHECK(std::exp(logp) == Approx(by_text.at(s)).epsilon(1e-5));
  }
  const Transcript t = beam.InputFinished();
  CHECK(t.text == best);
  CHECK(t.confidence == Approx(std::pow(best_p, 1.0 / 6.0)).epsilon(1e-5));

  // Viterbi scores: the best single alignment of each labelling.
  std::map<std::string, double> best_path;
  {
    std::vector<int> path(6, 0);
    while (true) {
      double logp = 0.0;
      std::string label;
      int prev = 0;
      for (int f = 0; f < 6; ++f) {
        const int s = path[static_cast<size_t>(f)];
        logp += static_cast<double>(lp(f, s));
        if (s != 0 && s != prev) label += tokens[static_cast<size_t>(s)];
        prev = s;
      }
      auto [it, fresh] = best_path.emplace(label, logp);
      if (!fresh) it->second = std::max(it->second, logp);
      int i = 0;
      while (i < 6 && ++path[static_cast<size_t>(i)] == 3) path[static_cast<size_t>(i++)] = 0;
      if (i == 6) break;
    }
  }
  bc.path_score = CtcPathScore::kMax;
  CtcBeamDecoder viterbi(bc, tokens, kShift);
  viterbi.AcceptFrames(lp, 0);
  for (const auto& [s, logp] : viterbi.Hypotheses()) {
    INFO("labelling '" << s << "'");
    CHECK(logp == Approx(best_path.at(s)).epsilon(1e-5));
  }
}

TEST_CASE("beam: a token extending a shorter prefix onto one already in the beam keeps its times", "[models][ctc][beam]") {
  // After frame 3 the beam holds "ab" (many alignments, ranked first) and "a" (one strong alignment:
  // 'a' then blanks). On frame 4 (b at 0.9) the best alignment of "ab" ending in 'b' extends "a" with a
  // new 'b' run, merged into the candidate made from "ab" itself; that run must carry token 'b' and start
  // on frame 4 (it once carried no valid token: garbage text, varying from run to run).
  const std::vector<std::string> tokens = {"<blank>", "a", "b"};
  MatrixF p(5, 3);
  p << 0.05f, 0.9f, 0.05f,  //
      0.55f, 0.05f, 0.4f,   //
      0.55f, 0.05f, 0.4f,   //
      0.55f, 0.05f, 0.4f,   //
      0.05f, 0.05f, 0.9f;
  const MatrixF lp = p.array().log().matrix();
  for (CtcPathScore kind : {CtcPathScore::kSum, CtcPathScore::kMax}) {
    INFO("path_score " << (kind == CtcPathScore::kSum ? "sum" : "max"));
    CtcBeamConfig bc;
    bc.beam_width = 8;
    bc.path_score = kind;
    CtcBeamDecoder beam(bc, tokens, kShift);
    const Transcript t = DecodeAll(beam, lp);
    CHECK(t.text == "ab");
    REQUIRE(t.tokens.size() == 2);
    CHECK(t.tokens[0].token == "a");
    CHECK(t.tokens[0].start_s == Approx(0.0));
    CHECK(t.tokens[0].end_s == Approx(kShift));
    CHECK(t.tokens[1].token == "b");
    CHECK(t.tokens[1].start_s == Approx(4 * kShift));
    CHECK(t.tokens[1].end_s == Approx(5 * kShift));
    REQUIRE(t.words.size() == 1);
    CHECK(t.words[0].token == "ab");
  }
}

TEST_CASE("beam: the transcript's tokens always spell the best hypothesis", "[models][ctc][beam]") {
  // Times and text come from the best alignment's token runs, the hypotheses from the prefixes: both must
  // name the same label sequence, whatever the posteriors.
  for (CtcPathScore kind : {CtcPathScore::kSum, CtcPathScore::kMax}) {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      INFO("seed " << seed << ", path_score " << (kind == CtcPathScore::kSum ? "sum" : "max"));
      CtcBeamConfig bc;
      bc.beam_width = 6;
      bc.path_score = kind;
      CtcBeamDecoder beam(bc, {"<blank>", "a", "b", "c"}, kShift);
      const Transcript t = DecodeAll(beam, RandomPosteriors(40, 4, seed, 1.5f));
      std::string spelled;
      for (const TokenTime& tok : t.tokens) {
        REQUIRE((tok.token == "a" || tok.token == "b" || tok.token == "c"));
        spelled += tok.token;
      }
      CHECK(t.text == spelled);
      CHECK(t.text == beam.Hypotheses().front().first);
    }
  }
}

TEST_CASE("a word list forces known words", "[models][ctc][beam]") {
  // Frame by frame "yez no": the 'z' frame has z at 0.5 and s at 0.4.
  MatrixF p = PathPosteriors("_y_e_z_|_n_o_").array().exp().matrix();
  p.row(5).setConstant(0.1f / 6.0f);
  p(5, Id('z')) = 0.5f;
  p(5, Id('s')) = 0.4f;
  const MatrixF lp = p.array().log().matrix();

  CtcGreedyDecoder greedy({}, kTokens, kShift);
  CHECK(DecodeAll(greedy, lp).text == "yez no");
  CtcBeamDecoder free_beam(CtcBeamConfig{}, kTokens, kShift);
  CHECK(DecodeAll(free_beam, lp).text == "yez no");

  CtcBeamDecoder listed(CtcBeamConfig{}, kTokens, kShift, "ctc_beam", {"yes", "no", "on"});
  const Transcript t = DecodeAll(listed, lp);
  CHECK(t.text == "yes no");
  REQUIRE(t.words.size() == 2);
  CHECK(t.words[0].token == "yes");
  CHECK(t.words[0].end_s == Approx(0.12));

  // From a file, with comments and blank lines.
  test::ScopedTempDir dir;
  const std::string path = (dir.path() / "words.txt").string();
  std::ofstream(path) << "# allowed words\nyes\n\nno\r\n";
  CtcBeamConfig bc;
  bc.word_list_file = path;
  CtcBeamDecoder from_file(bc, kTokens, kShift);
  CHECK(DecodeAll(from_file, lp).text == "yes no");
  // Inline in the config (a model's "decoder" metadata carries them so): used instead of the file.
  CtcBeamConfig inline_words;
  inline_words.words = {"yes", "no"};
  inline_words.word_list_file = "/nonexistent/words.txt";  // not read
  CtcBeamDecoder from_config(inline_words, kTokens, kShift);
  CHECK(DecodeAll(from_config, lp).text == "yes no");
  inline_words.words = {"yez"};
  CtcBeamDecoder only_yez(inline_words, kTokens, kShift);
  CHECK(DecodeAll(only_yez, lp).text == "yez");

  // Only complete words count. With a beam of 16, "yes" (its 's' taken from a frame where s has 0.03)
  // beats the incomplete "ye"; with a beam of 1 only "ye" survives, which is no word: empty transcript.
  CtcBeamDecoder only_yes(CtcBeamConfig{}, kTokens, kShift, "ctc_beam", {"yes"});
  CHECK(DecodeAll(only_yes, PathPosteriors("_y_e_")).text == "yes");
  CtcBeamConfig narrow;
  narrow.beam_width = 1;
  CtcBeamDecoder only_yes_narrow(narrow, kTokens, kShift, "ctc_beam", {"yes"});
  const Transcript partial = DecodeAll(only_yes_narrow, PathPosteriors("_y_e_"));
  CHECK(partial.text.empty());
  CHECK(partial.confidence == 0.0);
  CHECK(only_yes_narrow.Partial().text == "ye");  // the partial result shows the word being spelled
}

TEST_CASE("word-marker tokens (SentencePiece) start words", "[models][ctc]") {
  const std::vector<std::string> tokens = {"<blank>", "\xE2\x96\x81he", "llo", "\xE2\x96\x81wor", "ld"};
  MatrixF p = MatrixF::Constant(6, 5, 0.05f);
  const int path[] = {1, 2, 0, 3, 4, 0};
  for (int f = 0; f < 6; ++f) p(f, path[f]) = 0.8f;
  const MatrixF lp = p.array().log().matrix();
  CtcGreedyDecoder greedy({}, tokens, kShift);
  const Transcript t = DecodeAll(greedy, lp);
  CHECK(t.text == "hello world");
  REQUIRE(t.words.size() == 2);
  CHECK(t.words[1].token == "world");
  CtcBeamDecoder listed(CtcBeamConfig{}, tokens, kShift, "ctc_beam", {"hello", "world"});
  CHECK(DecodeAll(listed, lp).text == "hello world");
}

TEST_CASE("CTC decoder configuration errors name the field", "[models][ctc][errors]") {
  CtcGreedyConfig g;
  g.blank_index = -1;
  CHECK_THROWS_MATCHES(CtcGreedyDecoder(g, kTokens, kShift), ConfigError,
                       HasMessage("blank_index = -1; expected >= 0", "ctc_greedy."));
  g.blank_index = 8;
  CHECK_THROWS_MATCHES(CtcGreedyDecoder(g, kTokens, kShift), ConfigError,
                       HasMessage("blank_index = 8; expected in [0, 8)", "ctc_greedy."));
  CtcBeamConfig b;
  b.beam_width = 0;
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), ConfigError,
                       HasMessage("beam_width = 0; expected in [1, 4096]", "ctc_beam."));
  b = {};
  b.max_tokens_per_frame = -2;
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), ConfigError,
                       HasMessage("max_tokens_per_frame = -2; expected >= 0", "ctc_beam."));
  b = {};
  b.word_list_file = "/nonexistent/words.txt";
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), IoError,
                       HasMessage("cannot open word list (ctc_beam.word_list_file)", "/nonexistent/words.txt"));
  test::ScopedTempDir dir;
  const std::string path = (dir.path() / "words.txt").string();
  std::ofstream(path) << "yes\nno\nmaybe\n";
  b.word_list_file = path;
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), ConfigError,
                       HasMessage(":3: word 'maybe' cannot be spelled with the model's tokens", path));
  std::ofstream(path) << "# nothing\n\n";
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), ConfigError, HasMessage("holds no words", path));
  CHECK_THROWS_MATCHES(CtcBeamDecoder(CtcBeamConfig{}, kTokens, kShift, "ctc_beam", {"yes no"}), ConfigError,
                       HasMessage("'yes no' contains a space; expected one word per line"));
  b = {};
  b.words = {"yes", "no", "maybe"};
  CHECK_THROWS_MATCHES(CtcBeamDecoder(b, kTokens, kShift), ConfigError,
                       HasMessage("ctc_beam.words: word 3: word 'maybe' cannot be spelled with the model's tokens"));
  CHECK_THROWS_MATCHES(CtcGreedyDecoder({}, kTokens, -1.0), ConfigError, HasMessage("expected > 0", "ctc_greedy"));
}

TEST_CASE("CTC decoder input errors", "[models][ctc][errors]") {
  CtcGreedyDecoder g({}, kTokens, kShift);
  CHECK_THROWS_MATCHES(g.AcceptFrames(MatrixF::Constant(2, 3, -1.0f), 0), ModelFormatError,
                       HasMessage("have 3 columns; expected 8"));
  CtcBeamDecoder b(CtcBeamConfig{}, kTokens, kShift);
  MatrixF lp = PathPosteriors("_yes_");
  lp(2, 1) = std::nanf("");
  CHECK_THROWS_MATCHES(b.AcceptFrames(lp, 0), ModelFormatError, HasMessage("frame 2, column 1 is nan"));
  b.AcceptFrames(PathPosteriors("_ye"), 0);
  CHECK_THROWS_AS(b.AcceptFrames(PathPosteriors("s_"), 2), std::invalid_argument);
}

}  // namespace
}  // namespace ossicle
