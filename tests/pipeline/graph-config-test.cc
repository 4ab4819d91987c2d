// Graph validation: every rule of pipeline/graph-config.h and of the stages' build functions, each with the
// message it gives (file:line:column, key path, what was expected). Nothing here reads audio.
#include <catch2/catch.hpp>

#include "features/errors.h"
#include "pipeline/graph-runner.h"
#include "pipeline/stage-registry.h"
#include "pipeline/graph-test-support.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;

// A temporary folder with a keyword model (40-bin Kaldi fbank, labels _silence_ yes no) in it.
struct GraphConfigFixture {
  test::ScopedTempDir tmp{"ossicle-graph"};
  std::string model = test::WriteTestModel(tmp.path(), "kws.safetensors", FeatureConfig::KaldiFbank(40),
                                           {"_silence_", "yes", "no"});

  std::string Write(const std::string& yaml) { return test::WriteText(tmp.path() / "g.yaml", yaml); }
  std::shared_ptr<const Graph> Load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return Graph::Load(Write(yaml), overrides);
  }
  std::string File() const { return (tmp.path() / "g.yaml").string(); }
};

// A valid keyword graph; line numbers matter to the tests below.
const char* kGood = R"(stages:
  - name: audio
    type: source.file
    options: {sample_rate_hz: 16000}
  - name: fbank
    type: features.fbank
    input: audio
  - name: model
    type: model.rnn
    input: fbank
    options: {path: kws.safetensors}
  - name: kws
    type: decoder.keywords
    input: model
  - name: out
    type: sink.jsonl
    input: kws
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

TEST_CASE("a valid graph loads, relative model paths resolve against the graph's folder", "[graph][config]") {
  GraphConfigFixture f;
  auto g = f.Load(kGood);
  CHECK(g->SourceType() == "source.file");
  CHECK(g->Config().stages.size() == 5);
  // Topological order: every stage after its inputs.
  CHECK(g->Config().order == std::vector<size_t>{0, 1, 2, 3, 4});
  // Run from another working directory: the model is still found next to the graph file.
  const fs::path cwd = fs::current_path();
  fs::current_path(fs::temp_directory_path());
  CHECK_NOTHROW(Graph::Load(f.File()));
  fs::current_path(cwd);
}

TEST_CASE("graph structure errors name file, line, column and key", "[graph][config]") {
  GraphConfigFixture f;
  SECTION("unknown stage type, with the nearest name") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "features.fbank", "features.fbnak")), ConfigError,
                         HasMessage("g.yaml:6:11: fbank.type: unknown stage type 'features.fbnak' (did you mean "
                                    "'features.fbank'?)"));
  }
  SECTION("unknown stage key") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: audio", "    inputs: audio")), ConfigError,
                         HasMessage("g.yaml:7:5: fbank: unknown key 'inputs' (did you mean 'input'?)"));
  }
  SECTION("input naming no stage") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "input: fbank", "input: fbnk")), ConfigError,
                         HasMessage("g.yaml:10:12: model.input: no stage named 'fbnk' (did you mean 'fbank'?)"));
  }
  SECTION("missing input") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: audio\n", "")), ConfigError,
                         HasMessage("fbank.input: missing key 'input': features.fbank takes audio"));
  }
  SECTION("cyclic inputs") {
    const std::string yaml = Replace(Replace(kGood, "    input: audio\n", "    input: [audio, kws]\n"), "type: source.file",
                                     "type: source.file");
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError, HasMessage("cycle in the stage inputs: "));
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError, HasMessage("fbank -> kws -> model -> fbank"));
  }
  SECTION("duplicate and malformed names") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "name: kws", "name: fbank")), ConfigError,
                         HasMessage("g.yaml:12:11: fbank.name: duplicate stage name 'fbank' (first used at "));
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "name: kws", "name: k.ws")), ConfigError,
                         HasMessage("stages[3].name: stage name 'k.ws' may only hold letters, digits, '_' and '-'"));
  }
  SECTION("top level") {
    CHECK_THROWS_MATCHES(f.Load(std::string("stagse: []\n")), ConfigError,
                         HasMessage("g.yaml:1:1: unknown key 'stagse' (did you mean 'stages'?)"));
    CHECK_THROWS_MATCHES(f.Load(std::string("description: x\n")), ConfigError, HasMessage("missing key 'stages'"));
    CHECK_THROWS_MATCHES(f.Load(std::string("stages: []\n")), ConfigError,
                         HasMessage("stages: expected a non-empty list of stages"));
    CHECK_THROWS_MATCHES(f.Load(std::string("stages: [{name: a}]\n")), ConfigError, HasMessage("a: missing key 'type'"));
  }
  SECTION("sources: exactly one, without inputs") {
    CHECK_THROWS_MATCHES(f.Load("stages:\n  - {name: a, type: source.file, input: b}\n  - {name: b, type: source.file}\n"),
                         ConfigError, HasMessage("g.yaml:2:41: a.input: source.file is a source: it takes no input"));
    CHECK_THROWS_MATCHES(f.Load("stages:\n  - {name: a, type: source.file}\n  - {name: b, type: source.file}\n"),
                         ConfigError, HasMessage("a graph has exactly one source stage; 'a' is the first"));
    CHECK_THROWS_MATCHES(f.Load("stages:\n  - {name: out, type: sink.jsonl, input: out}\n"), ConfigError,
                         HasMessage("cycle in the stage inputs: out -> out"));
  }
  SECTION("a sink has no output") {
    CHECK_THROWS_MATCHES(f.Load(std::string(kGood) + "  - name: more\n    type: sink.text\n    input: out\n"), ConfigError,
                         HasMessage("g.yaml:20:12: more.input: 'out' is a sink (sink.jsonl): it has no output"));
  }
}

TEST_CASE("what flows between stages is checked before any audio", "[graph][config]") {
  GraphConfigFixture f;
  SECTION("wrong kind of input") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "input: model", "input: fbank")), ConfigError,
                         HasMessage("g.yaml:14:12: kws.input: 'fbank' (features.fbank) delivers features but "
                                    "decoder.keywords takes posteriors"));
  }
  SECTION("sample-rate mismatch") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "sample_rate_hz: 16000", "sample_rate_hz: 8000")), ConfigError,
                         HasMessage("g.yaml:7:12: fbank.input: sample-rate mismatch: 'audio' delivers 8000 Hz but "
                                    "fbank.frame.sample_rate_hz is 16000 Hz"));
  }
  SECTION("dimension mismatch") {
    const std::string yaml = Replace(kGood, "    input: audio\n", "    input: audio\n    options: {mel: {num_mel_bins: 80}}\n");
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError,
                         HasMessage("model.input: dimension mismatch: the features have 80 values per frame "
                                    "(mel.num_mel_bins = 80, deltas.order = 0) but "));
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError, HasMessage("kws.safetensors expects 40 (mel.num_mel_bins = 40"));
  }
  SECTION("features other than the model was trained on") {
    const std::string yaml = Replace(kGood, "    input: audio\n", "    input: audio\n    options: {frame: {window: hann}}\n");
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError,
                         HasMessage("g.yaml:11:12: model.input: features differ from the model's: "));
    CHECK_THROWS_MATCHES(f.Load(yaml), ConfigError,
                         HasMessage("features.frame.window = \"hann\" but the model was trained with \"povey\""));
  }
  SECTION("match_model takes the model's features") {
    const std::string yaml = Replace(kGood, "    input: audio\n", "    input: audio\n    options: {match_model: model}\n");
    CHECK_NOTHROW(f.Load(yaml));
    CHECK_THROWS_MATCHES(f.Load(Replace(yaml, "match_model: model", "match_model: modle")), ConfigError,
                         HasMessage("g.yaml:8:28: fbank.match_model: no model.rnn stage named 'modle' (did you mean "
                                    "'model'?)"));
  }
  SECTION("features.model computes the model's features, fbank or mfcc") {
    // model.rnn compares its input's features with its model file's, so a graph that loads got them right.
    const std::string yaml =
        Replace(Replace(kGood, "    type: features.fbank\n    input: audio\n",
                        "    type: features.model\n    input: audio\n    options: {match_model: model}\n"),
                "    options: {path: kws.safetensors}\n", "    options: {path: kws.safetensors}\n");
    CHECK_NOTHROW(f.Load(yaml));
    FeatureConfig mfcc = FeatureConfig::KaldiMfcc(13);
    mfcc.cmvn.mode = CmvnMode::kUtterance;
    test::WriteTestModel(f.tmp.path(), "mfcc.safetensors", mfcc, {"_silence_", "yes", "no"});
    const std::string with_mfcc = Replace(yaml, "{path: kws.safetensors}", "{path: mfcc.safetensors}");
    CHECK_NOTHROW(f.Load(with_mfcc));
    CHECK_NOTHROW(f.Load(with_mfcc, {"fbank.mfcc.cepstral_lifter=22"}));
    // The same model behind features.fbank is refused, naming what it was trained on.
    CHECK_THROWS_MATCHES(
        f.Load(Replace(with_mfcc, "features.model", "features.fbank")), ConfigError,
        HasMessage("g.yaml:8:28: fbank.match_model: the model of 'model' was trained on mfcc features but this stage "
                   "is features.fbank"));
    // A changed key still reaches model.rnn's comparison.
    CHECK_THROWS_MATCHES(f.Load(with_mfcc, {"fbank.mfcc.cepstral_lifter=0"}), ConfigError,
                         HasMessage("features.mfcc.cepstral_lifter = 0.0 but the model was trained with 22.0"));
    // mfcc keys for an fbank model, and no match_model at all, are errors naming the key.
    CHECK_THROWS_MATCHES(f.Load(yaml, {"fbank.mfcc.num_ceps=20"}), ConfigError,
                         HasMessage("fbank.mfcc: the model of 'model' was trained on fbank features; mfcc options "
                                    "apply to an MFCC model"));
    CHECK_THROWS_MATCHES(f.Load(Replace(yaml, "{match_model: model}", "{frame: {dither: 0}}")), ConfigError,
                         HasMessage("fbank.match_model: required: the name of the model.rnn stage"));
  }
  SECTION("a keyword that is not one of the model's labels") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: model\n", "    input: model\n    options: {keywords: \"yes,maybe\"}\n")),
                         ConfigError, HasMessage("g.yaml:15:25: kws.keywords: 'maybe' is not a label"));
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: model\n", "    input: model\n    options: {keywords: \"yes,maybe\"}\n")),
                         ConfigError, HasMessage("maybe"));
  }
}

TEST_CASE("stage options are strict and validated", "[graph][config]") {
  GraphConfigFixture f;
  SECTION("unknown option, with the nearest name") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{path: kws.safetensors}", "{path: kws.safetensors, chunk_frame: 8}")),
                         ConfigError,
                         HasMessage("g.yaml:11:38: model: unknown key 'chunk_frame' (did you mean 'chunk_frames'?)"));
  }
  SECTION("a value breaking a rule points at the value") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{sample_rate_hz: 16000}", "{sample_rate_hz: 16000, block_frames: 0}")),
                         ConfigError, HasMessage("g.yaml:4:52: audio.block_frames = 0; expected in [1, 16777216]"));
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{path: kws.safetensors}", "{path: kws.safetensors, chunk_frames: 0}")),
                         ConfigError, HasMessage("g.yaml:11:52: model.chunk_frames = 0"));
  }
  SECTION("wrong value type") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{sample_rate_hz: 16000}", "{sample_rate_hz: fast}")), ConfigError,
                         HasMessage("g.yaml:4:31: audio.sample_rate_hz: expected a number, got 'fast'"));
  }
  SECTION("model file") {
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{path: kws.safetensors}", "{}")), ConfigError,
                         HasMessage("model.path = \"\"; expected the model file to run (--set model.path=FILE)"));
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{path: kws.safetensors}", "{path: nope.safetensors}")), Error,
                         HasMessage("g.yaml:11:21: model.path: "));
    test::WriteText(f.tmp.path() / "junk.safetensors", "not a model");
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{path: kws.safetensors}", "{path: junk.safetensors}")), ModelFormatError,
                         HasMessage("g.yaml:11:21: model.path: "));
  }
  SECTION("a features file named by `config` must hold the stage's kind") {
    test::WriteText(f.tmp.path() / "mfcc.yaml", "type: mfcc\n");
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: audio\n", "    input: audio\n    options: {config: mfcc.yaml}\n")),
                         ConfigError, HasMessage("fbank.config: "));
    test::WriteText(f.tmp.path() / "fb.yaml", "mel: {num_mel_bins: 4O}\n");
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "    input: audio\n", "    input: audio\n    options: {config: fb.yaml}\n")),
                         ConfigError, HasMessage("fb.yaml:1:21: mel.num_mel_bins: expected an integer, got '4O'"));
  }
  SECTION("lists: a sequence or one value") {
    auto g = f.Load(Replace(kGood, "{sample_rate_hz: 16000}", "{paths: [a.wav, /x/b.wav]}"));
    CHECK(g->SourcePaths() == std::vector<std::string>{(f.tmp.path() / "a.wav").string(), "/x/b.wav"});
    g = f.Load(Replace(kGood, "{sample_rate_hz: 16000}", "{paths: a.wav}"));
    CHECK(g->SourcePaths() == std::vector<std::string>{(f.tmp.path() / "a.wav").string()});
    CHECK_THROWS_MATCHES(f.Load(Replace(kGood, "{sample_rate_hz: 16000}", "{paths: [[a]]}")), ConfigError,
                         HasMessage("audio.paths[0]: expected a single value, got a list or mapping"));
  }
}

TEST_CASE("graph: --set overrides stage options before validation", "[graph][config]") {
  GraphConfigFixture f;
  const std::string file = f.Write(kGood);
  SECTION("a value") {
    CHECK_THROWS_MATCHES(Graph::Load(file, {"model.chunk_frames=0"}), ConfigError, HasMessage("model.chunk_frames = 0"));
    CHECK_NOTHROW(Graph::Load(file, {"kws.threshold=0.9", "model.mode=offline"}));
    CHECK_THROWS_MATCHES(Graph::Load(file, {"kws.treshold=0.9"}), ConfigError,
                         HasMessage("kws: unknown key 'treshold' (did you mean 'threshold'?)"));
  }
  SECTION("an unknown stage") {
    CHECK_THROWS_MATCHES(Graph::Load(file, {"modle.path=x"}), ConfigError,
                         HasMessage("--set 'modle.path=x': no stage named 'modle' in " + file + " (did you mean 'model'?)"));
    CHECK_THROWS_MATCHES(Graph::Load(file, {"path=x"}), ConfigError, HasMessage("expected stage.option=value"));
  }
  SECTION("paths from the command line are relative to the working directory") {
    const fs::path cwd = fs::current_path();
    fs::create_directories(f.tmp.path() / "sub");
    fs::copy_file(f.model, f.tmp.path() / "sub" / "m2.safetensors");
    fs::current_path(f.tmp.path() / "sub");
    CHECK_NOTHROW(Graph::Load(file, {"model.path=m2.safetensors"}));
    auto g = Graph::Load(file, {"audio.paths=[x.wav]"});
    CHECK(g->SourcePaths() == std::vector<std::string>{(f.tmp.path() / "sub" / "x.wav").string()});
    fs::current_path(cwd);
  }
}

TEST_CASE("every ready graph in configs/graphs validates", "[graph][config]") {
  GraphConfigFixture f;
  const std::string features = test::WriteTestModel(f.tmp.path(), "fb.safetensors", FeatureConfig::KaldiFbank(40),
                                                    {"_silence_", "yes", "no"});
  const std::string ctc = test::WriteTestModel(f.tmp.path(), "ctc.safetensors", FeatureConfig::KaldiFbank(40),
                                               {"<blank>", "|", "a", "b", "c"});
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs")) {
    if (entry.path().extension() != ".yaml") continue;
    ++seen;
    const std::string name = entry.path().filename().string();
    INFO(name);
    // Each opens with a comment saying what it is for.
    CHECK(test::ReadFirstLine(entry.path()).rfind("# ", 0) == 0);
    const GraphConfig config = LoadGraphConfig(entry.path().string());
    std::vector<std::string> overrides;
    for (const StageSpec& s : config.stages) {
      const bool ctc_graph = name.find("transcribe") != std::string::npos || name.find("ctc") != std::string::npos;
      if (s.type == "model.rnn") overrides.push_back(s.name + ".path=" + (ctc_graph ? ctc : features));
      if (s.type == "decoder.ctc_keywords") overrides.push_back(s.name + ".keywords=ab,c");  // given on the command line
      if (s.type == "sink.npy") overrides.push_back(s.name + ".dir=" + f.tmp.path().string());
      if (s.type == "source.microphone") overrides.push_back(s.name + ".device=0");
    }
    CHECK_NOTHROW(Graph::Load(entry.path().string(), overrides));
  }
  CHECK(seen >= 6);
}

TEST_CASE("every stage type is registered with documented options", "[graph][config]") {
  const StageRegistry& r = StageRegistry::Builtin();
  for (const char* name : {"source.file", "source.microphone", "features.fbank", "features.mfcc", "model.rnn", "vad.energy",
                           "decoder.keywords", "decoder.ctc_greedy", "decoder.ctc_beam", "decoder.ctc_keywords",
                           "sink.jsonl", "sink.csv", "sink.text", "sink.wav", "sink.npy"}) {
    INFO(name);
    const StageType* t = r.Find(name);
    REQUIRE(t != nullptr);
    CHECK(!t->summary.empty());
    for (const ConfigDocRow& row : t->docs()) CHECK(!row.help.empty());
  }
  // The features stages hide `type` (the stage type says it); fbank has no mfcc options.
  bool has_type = false, has_mfcc = false;
  for (const ConfigDocRow& row : r.Find("features.fbank")->docs()) {
    has_type = has_type || row.key == "type";
    has_mfcc = has_mfcc || row.key.rfind("mfcc.", 0) == 0;
  }
  CHECK_FALSE(has_type);
  CHECK_FALSE(has_mfcc);
}

}  // namespace
}  // namespace ossicle
