// YAML <-> config structs (pipeline/config-yaml.h): strict reading with file:line:column and key path in
// every message, "did you mean", enum choices, type errors, --set overrides, paths relative to the YAML file,
// ConfigToYaml -> ReadConfig round trips, and the generated configuration reference.
#include "pipeline/config-yaml.h"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "features/feature-config.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

using test::HasMessage;

// Every leaf of a config as "dotted.key" -> exact text (doubles in hexfloat, so equality is bit equality).
template <ConfigStruct C>
void Flatten(const C& config, const std::string& prefix, std::map<std::string, std::string>& out) {
  C::Fields(config, [&](FieldInfo info, const auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    const std::string key = JoinKey(prefix, info.name);
    if constexpr (ConfigStruct<T>) {
      Flatten(value, key, out);
    } else if constexpr (std::is_floating_point_v<T>) {
      std::ostringstream os;
      os << std::hexfloat << value;
      out[key] = os.str();
    } else {
      out[key] = FormatValue(value);
    }
  });
}

template <ConfigStruct C>
std::map<std::string, std::string> Flatten(const C& config) {
  std::map<std::string, std::string> out;
  Flatten(config, "", out);
  return out;
}

// Reports every differing key with expected and actual.
void CheckSameConfig(const FeatureConfig& got, const FeatureConfig& want) {
  const auto g = Flatten(got), w = Flatten(want);
  REQUIRE(g.size() == w.size());
  int bad = 0;
  for (const auto& [key, value] : w) {
    const auto it = g.find(key);
    REQUIRE(it != g.end());
    if (it->second != value) {
      ++bad;
      FAIL_CHECK(key << ": expected " << value << ", got " << it->second);
    }
  }
  CHECK(bad == 0);
}

// Writes `text` to dir/name and reads it as the app does: LoadYamlFile, then ReadConfig with root path "".
struct YamlFile {
  std::string path;
  YamlSource source;
  YAML::Node root;
};

YamlFile WriteYaml(const fs::path& dir, const std::string& name, const std::string& text) {
  YamlFile f;
  f.path = (dir / name).string();
  fs::create_directories(fs::path(f.path).parent_path());
  std::ofstream(f.path) << text;
  f.root = LoadYamlFile(f.path, f.source);
  return f;
}

FeatureConfig ReadFeatureConfig(const YamlFile& f, FeatureConfig config = {}) {
  ReadConfig(f.root, config, f.source, "");
  return config;
}

// ---- reading ---------------------------------------------------------------------------------------------

TEST_CASE("ReadConfig reads every kind of field, absent keys keep their values", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  const YamlFile f = WriteYaml(tmp.path(), "features.yaml",
                               "# a comment\n"
                               "type: mfcc\n"
                               "frame:\n"
                               "  frame_length_ms: 32\n"
                               "  remove_dc_offset: false\n"
                               "  window: hamming\n"
                               "  dither_seed: 42\n"
                               "mel: {num_mel_bins: 23, high_freq_hz: -400.5}\n"
                               "cmvn:\n"
                               "  normalize_variance: yes\n");
  const FeatureConfig base = FeatureConfig::LibrosaLogMel();
  const FeatureConfig c = ReadFeatureConfig(f, base);
  CHECK(c.type == FeatureType::kMfcc);
  CHECK(c.frame.frame_length_ms == 32.0);
  CHECK_FALSE(c.frame.remove_dc_offset);
  CHECK(c.frame.window == WindowType::kHamming);
  CHECK(c.frame.dither_seed == 42u);
  CHECK(c.mel.num_mel_bins == 23);
  CHECK(c.mel.high_freq_hz == -400.5);
  CHECK(c.cmvn.normalize_variance);
  // Untouched keys keep the preset's values, not the struct defaults.
  CHECK(c.frame.padding == FramePadding::kCenterZero);
  CHECK(c.frame.periodic_window);
  CHECK(c.mel.scale == MelScale::kSlaney);
  CHECK(c.log_floor == 1e-10);

  // An empty document and an empty mapping change nothing.
  const YamlFile empty = WriteYaml(tmp.path(), "empty.yaml", "");
  CheckSameConfig(ReadFeatureConfig(empty, base), base);
  const YamlFile nulls = WriteYaml(tmp.path(), "nulls.yaml", "frame:\nmel: {}\n");
  CheckSameConfig(ReadFeatureConfig(nulls, base), base);
}

TEST_CASE("Unknown keys are errors with file:line:column, key path and the nearest valid name", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  // Line 4, column 5 (1-based) is where 'frame_lenght_ms' starts.
  const YamlFile f = WriteYaml(tmp.path(), "typo.yaml",
                               "# features for the keyword model\n"
                               "features:\n"
                               "  frame:\n"
                               "    frame_lenght_ms: 30\n");
  FeatureConfig c;
  const std::string want =
      f.path + ":4:5: features.frame: unknown key 'frame_lenght_ms' (did you mean 'frame_length_ms'?)";
  CHECK_THROWS_MATCHES(ReadConfig(f.root["features"], c, f.source, "features"), ConfigError, HasMessage(want, want));

  // At the top level (the app's root path ""), no key path precedes the message.
  const YamlFile top = WriteYaml(tmp.path(), "top.yaml", "type: fbank\nmell:\n  num_mel_bins: 40\n");
  const std::string want_top = top.path + ":2:1: unknown key 'mell' (did you mean 'mel'?)";
  CHECK_THROWS_MATCHES(ReadFeatureConfig(top), ConfigError, HasMessage(want_top, want_top));

  // Nothing close: no suggestion.
  const YamlFile far = WriteYaml(tmp.path(), "far.yaml", "mel:\n  bananas: 3\n");
  const std::string want_far = far.path + ":2:3: mel: unknown key 'bananas'";
  CHECK_THROWS_MATCHES(ReadFeatureConfig(far), ConfigError, HasMessage(want_far, want_far));
  try {
    ReadFeatureConfig(far);
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("did you mean") == std::string::npos);
  }

  // Case matters: a key in the wrong case is unknown (and the right spelling is suggested).
  const YamlFile caps = WriteYaml(tmp.path(), "caps.yaml", "frame:\n  Window: hann\n");
  CHECK_THROWS_MATCHES(ReadFeatureConfig(caps), ConfigError,
                       HasMessage("frame: unknown key 'Window' (did you mean 'window'?)", caps.path + ":2:3: "));
}

TEST_CASE("NearestName suggests only close names", "[pipeline][yaml]") {
  const std::vector<std::string_view> names = {"frame_length_ms", "frame_shift_ms", "window", "fft_size"};
  CHECK(NearestName("frame_lenght_ms", names) == "frame_length_ms");
  CHECK(NearestName("frame_shift", names) == "frame_shift_ms");
  CHECK(NearestName("windw", names) == "window");
  CHECK(NearestName("fftsize", names) == "fft_size");
  CHECK(NearestName("sample_rate", names).empty());
  CHECK(NearestName("x", names).empty());
}

TEST_CASE("Enum errors list the accepted values", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  // 'hanning' starts at line 3, column 11.
  const YamlFile f = WriteYaml(tmp.path(), "enum.yaml",
                               "frame:\n"
                               "  frame_length_ms: 25\n"
                               "  window: hanning\n");
  const std::string want =
      f.path + ":3:11: frame.window: 'hanning' is not one of hann|hamming|povey|blackman|rectangular";
  CHECK_THROWS_MATCHES(ReadFeatureConfig(f), ConfigError, HasMessage(want, want));

  const YamlFile g = WriteYaml(tmp.path(), "enum2.yaml", "cmvn: {mode: global-stats}\n");
  CHECK_THROWS_MATCHES(
      ReadFeatureConfig(g), ConfigError,
      HasMessage("cmvn.mode: 'global-stats' is not one of none|utterance|global|sliding", g.path + ":1:14: "));
  const YamlFile h = WriteYaml(tmp.path(), "enum3.yaml", "type: MFCC\n");
  CHECK_THROWS_MATCHES(ReadFeatureConfig(h), ConfigError,
                       HasMessage("type: 'MFCC' is not one of fbank|mfcc", h.path + ":1:7: "));
}

TEST_CASE("Type errors name the key, the expected type and the text found", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  struct Case {
    std::string yaml;     // one line
    std::string message;  // after "file:1:COLUMN: "
    int column;
  };
  const Case cases[] = {
      {"mel: {num_mel_bins: forty}", "mel.num_mel_bins: expected an integer, got 'forty'", 21},
      {"mel: {num_mel_bins: 40.5}", "mel.num_mel_bins: expected an integer, got '40.5'", 21},
      {"mel: {num_mel_bins: ''}", "mel.num_mel_bins: expected an integer, got ''", 21},
      {"mel: {num_mel_bins: 99999999999}", "mel.num_mel_bins: integer '99999999999' is out of range", 21},
      {"frame: {fft_size: -2147483649}", "frame.fft_size: integer '-2147483649' is out of range", 19},
      {"frame: {dither_seed: -1}", "frame.dither_seed: integer '-1' is out of range", 22},
      {"frame: {dither_seed: 18446744073709551616}",
       "frame.dither_seed: expected an integer, got '18446744073709551616'", 22},
      {"frame: {frame_length_ms: abc}", "frame.frame_length_ms: expected a number, got 'abc'", 26},
      {"frame: {frame_length_ms: 25ms}", "frame.frame_length_ms: expected a number, got '25ms'", 26},
      {"frame: {frame_length_ms: .inf}", "frame.frame_length_ms: expected a number, got '.inf'", 26},
      {"frame: {frame_length_ms: nan}", "frame.frame_length_ms: expected a number, got 'nan'", 26},
      {"frame: {frame_length_ms: 1e400}", "frame.frame_length_ms: expected a number, got '1e400'", 26},
      {"frame: {remove_dc_offset: maybe}", "frame.remove_dc_offset: expected true or false, got 'maybe'", 27},
      {"frame: {remove_dc_offset: 1}", "frame.remove_dc_offset: expected true or false, got '1'", 27},
      {"frame: {frame_length_ms: [25]}", "frame.frame_length_ms: expected a single value, got a list or mapping", 26},
      {"frame: {window: {name: hann}}", "frame.window: expected a single value, got a list or mapping", 17},
      {"frame: 25", "frame: expected a mapping of keys to values", 8},
      {"cmvn: [utterance]", "cmvn: expected a mapping of keys to values", 7},
  };
  int i = 0;
  for (const Case& c : cases) {
    const YamlFile f = WriteYaml(tmp.path(), "case" + std::to_string(i++) + ".yaml", c.yaml + "\n");
    INFO(c.yaml);
    CHECK_THROWS_MATCHES(ReadFeatureConfig(f), ConfigError,
                         HasMessage(c.message, f.path + ":1:" + std::to_string(c.column) + ": " + c.message));
  }

  // A document that is not a mapping at all.
  const YamlFile list = WriteYaml(tmp.path(), "list.yaml", "- 1\n- 2\n");
  CHECK_THROWS_MATCHES(ReadFeatureConfig(list), ConfigError,
                       HasMessage("expected a mapping of keys to values", list.path + ":1:1: "));
}

TEST_CASE("Booleans: true/True/yes and false/False/no", "[pipeline][yaml]") {
  YamlSource src;
  for (const char* text : {"true", "True", "yes"}) {
    FeatureConfig c;
    c.cmvn.normalize_variance = false;
    ReadConfig(YAML::Load(std::string("cmvn: {normalize_variance: ") + text + "}"), c, src, "");
    INFO(text);
    CHECK(c.cmvn.normalize_variance);
  }
  for (const char* text : {"false", "False", "no"}) {
    FeatureConfig c;
    c.frame.remove_dc_offset = true;
    ReadConfig(YAML::Load(std::string("frame: {remove_dc_offset: ") + text + "}"), c, src, "");
    INFO(text);
    CHECK_FALSE(c.frame.remove_dc_offset);
  }
}

TEST_CASE("Integers use the whole range of their field", "[pipeline][yaml]") {
  // dither_seed is uint64_t: ConfigToYaml writes any value, so ReadConfig must read all of them back.
  YamlSource src;
  FeatureConfig c;
  ReadConfig(YAML::Load("frame: {dither_seed: 18446744073709551615, fft_size: 2147483647}"), c, src, "");
  CHECK(c.frame.dither_seed == 18446744073709551615ULL);
  CHECK(c.frame.fft_size == 2147483647);
  ReadConfig(YAML::Load("frame: {dither_seed: 9223372036854775808, fft_size: -2147483648}"), c, src, "");
  CHECK(c.frame.dither_seed == 9223372036854775808ULL);
  CHECK(c.frame.fft_size == -2147483647 - 1);
  // Negative values of signed fields are read (Validate, not the reader, decides whether they are allowed).
  ReadConfig(YAML::Load("deltas: {order: -1}\nmel: {high_freq_hz: -400}"), c, src, "");
  CHECK(c.deltas.order == -1);
  CHECK(c.mel.high_freq_hz == -400.0);
}

TEST_CASE("Text not read from a file is reported as <yaml>", "[pipeline][yaml]") {
  FeatureConfig c;
  CHECK_THROWS_MATCHES(
      ReadConfig(YAML::Load("mel:\n  num_mel_bins: x\n"), c, YamlSource{}, "features"), ConfigError,
      HasMessage("<yaml>:2:17: features.mel.num_mel_bins: expected an integer, got 'x'", "<yaml>:2:17: "));
}

TEST_CASE("LoadYamlFile: syntax errors carry file:line:column, a missing file is an IoError", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "broken.yaml").string();
  std::ofstream(path) << "frame:\n  window: hann\n  fft_size: [512\n";
  YamlSource source;
  try {
    LoadYamlFile(path, source);
    FAIL("no exception for a YAML syntax error");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(std::regex_search(what,
                            std::regex("^" + std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                                       R"(:[0-9]+:[0-9]+: YAML syntax error: )")));
  }
  const std::string missing = (tmp.path() / "missing.yaml").string();
  CHECK_THROWS_MATCHES(LoadYamlFile(missing, source), IoError,
                       HasMessage("cannot open configuration file", missing + ": "));

  // The source remembers the file and its folder.
  const YamlFile f = WriteYaml(tmp.path(), "sub/ok.yaml", "type: fbank\n");
  CHECK(f.source.file == f.path);
  CHECK(f.source.base_dir == fs::absolute(tmp.path() / "sub"));
}

// ---- overrides -------------------------------------------------------------------------------------------

TEST_CASE("ApplyOverride sets nested keys, creating mappings, and its values are checked like the file's",
          "[pipeline][yaml]") {
  YAML::Node root = YAML::Load("frame:\n  window: hann\nmel:\n");
  ApplyOverride(root, "frame.window=hamming");        // replaces a value
  ApplyOverride(root, "frame.frame_length_ms=32.5");  // adds to an existing mapping
  ApplyOverride(root, "mel.num_mel_bins=80");         // the mapping was null
  ApplyOverride(root, "cmvn.mode=sliding");           // creates the mapping
  ApplyOverride(root, "type=mfcc");
  ApplyOverride(root, "cmvn.stats_file=a=b.json");  // only the first '=' separates
  FeatureConfig c;
  YamlSource src;
  ReadConfig(root, c, src, "");
  CHECK(c.frame.window == WindowType::kHamming);
  CHECK(c.frame.frame_length_ms == 32.5);
  CHECK(c.mel.num_mel_bins == 80);
  CHECK(c.cmvn.mode == CmvnMode::kSliding);
  CHECK(c.type == FeatureType::kMfcc);
  CHECK(c.cmvn.stats_file == "a=b.json");

  // As the app starts: an empty mapping.
  YAML::Node fresh(YAML::NodeType::Map);
  ApplyOverride(fresh, "frame.padding=center_reflect");
  FeatureConfig d;
  ReadConfig(fresh, d, src, "");
  CHECK(d.frame.padding == FramePadding::kCenterReflect);

  // Overridden values go through the same checks as values from a file.
  YAML::Node bad(YAML::NodeType::Map);
  ApplyOverride(bad, "mel.num_mel_bins=[1, 2]");
  CHECK_THROWS_MATCHES(ReadConfig(bad, d, src, ""), ConfigError,
                       HasMessage("mel.num_mel_bins: expected a single value, got a list or mapping"));
  YAML::Node typo(YAML::NodeType::Map);
  ApplyOverride(typo, "frame.windw=hann");
  CHECK_THROWS_MATCHES(ReadConfig(typo, d, src, ""), ConfigError,
                       HasMessage("frame: unknown key 'windw' (did you mean 'window'?)"));
}

TEST_CASE("ApplyOverride rejects malformed assignments, quoting them", "[pipeline][yaml]") {
  YAML::Node root = YAML::Load("type: fbank\n");
  CHECK_THROWS_MATCHES(ApplyOverride(root, "frame.window"), ConfigError,
                       HasMessage("--set 'frame.window': expected key.path=value"));
  CHECK_THROWS_MATCHES(ApplyOverride(root, "=hann"), ConfigError, HasMessage("--set '=hann': expected key.path=value"));
  CHECK_THROWS_MATCHES(ApplyOverride(root, "frame..window=hann"), ConfigError,
                       HasMessage("--set 'frame..window=hann': empty key in the path"));
  CHECK_THROWS_MATCHES(ApplyOverride(root, ".window=hann"), ConfigError,
                       HasMessage("--set '.window=hann': empty key in the path"));
  CHECK_THROWS_MATCHES(ApplyOverride(root, "frame.=hann"), ConfigError,
                       HasMessage("--set 'frame.=hann': empty key in the path"));
  CHECK_THROWS_MATCHES(ApplyOverride(root, "type.name=mfcc"), ConfigError,
                       HasMessage("--set 'type.name=mfcc': 'type' is not a mapping"));
}

// ---- paths -----------------------------------------------------------------------------------------------

TEST_CASE("Path fields resolve against the YAML file's folder", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  const fs::path dir = fs::absolute(tmp.path() / "configs");
  auto stats_file = [&](const std::string& value) {
    const YamlFile f = WriteYaml(dir, "features.yaml", "cmvn:\n  mode: global\n  stats_file: " + value + "\n");
    return ReadFeatureConfig(f).cmvn.stats_file;
  };
  CHECK(stats_file("stats/global.json") == (dir / "stats/global.json").string());
  CHECK(stats_file("./global.json") == (dir / "global.json").string());
  CHECK(stats_file("../data/global.json") == (fs::absolute(tmp.path()) / "data/global.json").string());
  CHECK(stats_file("/srv/models/global.json") == "/srv/models/global.json");
  CHECK(stats_file("''").empty());
  // Not relative to the working directory: the result is absolute whatever the current directory is.
  CHECK(fs::path(stats_file("global.json")).is_absolute());

  // An override (no file) resolves against the source's base_dir, which the app sets to the working folder.
  YAML::Node root(YAML::NodeType::Map);
  ApplyOverride(root, "cmvn.stats_file=s.json");
  YamlSource src;
  src.base_dir = "/work/here";
  FeatureConfig c;
  ReadConfig(root, c, src, "");
  CHECK(c.cmvn.stats_file == "/work/here/s.json");
}

// ---- write then read -------------------------------------------------------------------------------------

FeatureConfig NonDefaultConfig() {
  FeatureConfig c;
  c.type = FeatureType::kMfcc;
  c.frame.sample_rate_hz = 22050.0;
  c.frame.frame_length_ms = 32.5;
  c.frame.frame_shift_ms = 100.0 / 7.0;  // not a short decimal
  c.frame.padding = FramePadding::kCenterReflect;
  c.frame.sample_scale = 1.0 / 3.0;
  c.frame.dither = 0.1;
  c.frame.dither_seed = 0xDEADBEEFCAFEF00DULL;  // > 2^63
  c.frame.remove_dc_offset = false;
  c.frame.preemphasis_coefficient = 0.5;
  c.frame.window = WindowType::kBlackman;
  c.frame.periodic_window = true;
  c.frame.fft_size = 2048;
  c.spectrum = SpectrumType::kMagnitude;
  c.mel.num_mel_bins = 64;
  c.mel.low_freq_hz = 12.345678901234567;
  c.mel.high_freq_hz = -100.5;
  c.mel.scale = MelScale::kSlaney;
  c.mel.triangles = MelTriangles::kHz;
  c.mel.norm = MelNorm::kSlaney;
  c.log_floor = 1.2345678901234567e-12;
  c.mfcc.num_ceps = 20;
  c.mfcc.cepstral_lifter = 26.5;
  c.cmvn.mode = CmvnMode::kUtterance;  // the one mode where skip_digital_silence may be true
  c.cmvn.normalize_variance = true;
  c.cmvn.window_frames = 300;
  c.cmvn.skip_digital_silence = true;
  c.cmvn.stats_file = "/srv/stats: global.json";  // absolute (so the base folder does not apply), needs quoting
  c.deltas.order = 2;
  c.deltas.window = 3;
  return c;
}

TEST_CASE("ConfigToYaml -> text -> ReadConfig gives back exactly the original config", "[pipeline][yaml]") {
  const FeatureConfig original = NonDefaultConfig();
  // Every field differs from its default, so a field that is not written or not read is caught.
  const auto defaults = Flatten(FeatureConfig{}), changed = Flatten(original);
  for (const auto& [key, value] : defaults) {
    INFO(key);
    CHECK(changed.at(key) != value);
  }

  for (const FeatureConfig& want : {original, FeatureConfig{}, FeatureConfig::KaldiFbank(80),
                                    FeatureConfig::LibrosaLogMel(), FeatureConfig::KaldiMfcc()}) {
    YAML::Emitter out;
    out << ConfigToYaml(want);
    REQUIRE(out.good());
    const std::string text = out.c_str();
    INFO(text);
    FeatureConfig got;  // defaults, then the text
    ReadConfig(YAML::Load(text), got, YamlSource{}, "");
    CheckSameConfig(got, want);
  }
}

TEST_CASE("Round trip through a file, read into a config with other values", "[pipeline][yaml]") {
  test::ScopedTempDir tmp;
  const FeatureConfig want = NonDefaultConfig();
  YAML::Emitter out;
  out << ConfigToYaml(want);
  const YamlFile f = WriteYaml(tmp.path(), "round-trip.yaml", std::string(out.c_str()) + "\n");
  CheckSameConfig(ReadFeatureConfig(f, FeatureConfig::LibrosaLogMel()), want);
}

// ---- configuration reference -----------------------------------------------------------------------------

TEST_CASE("CollectConfigDocs: one row per leaf field, each with a type, a default and help", "[pipeline][yaml]") {
  std::vector<ConfigDocRow> rows;
  CollectConfigDocs(FeatureConfig{}, "", rows);
  // The leaves of FeatureConfig, by hand (a field missing from a Fields() list fails here).
  const std::set<std::string> want = {"type",
                                      "frame.sample_rate_hz",
                                      "frame.frame_length_ms",
                                      "frame.frame_shift_ms",
                                      "frame.padding",
                                      "frame.sample_scale",
                                      "frame.dither",
                                      "frame.dither_seed",
                                      "frame.remove_dc_offset",
                                      "frame.preemphasis_coefficient",
                                      "frame.window",
                                      "frame.periodic_window",
                                      "frame.fft_size",
                                      "spectrum",
                                      "mel.num_mel_bins",
                                      "mel.low_freq_hz",
                                      "mel.high_freq_hz",
                                      "mel.scale",
                                      "mel.triangles",
                                      "mel.norm",
                                      "log_floor",
                                      "mfcc.num_ceps",
                                      "mfcc.cepstral_lifter",
                                      "cmvn.mode",
                                      "cmvn.normalize_variance",
                                      "cmvn.window_frames",
                                      "cmvn.stats_file",
                                      "cmvn.skip_digital_silence",
                                      "deltas.order",
                                      "deltas.window"};
  CHECK(rows.size() == want.size());
  std::map<std::string, ConfigDocRow> by_key;
  for (const ConfigDocRow& r : rows) {
    INFO("row " << r.key);
    CHECK(want.count(r.key) == 1);
    CHECK(by_key.count(r.key) == 0);  // no duplicates
    CHECK_FALSE(r.help.empty());
    CHECK_FALSE(r.type.empty());
    CHECK_FALSE(r.default_value.empty());
    by_key[r.key] = r;
  }
  REQUIRE(by_key.size() == want.size());

  CHECK(by_key["frame.window"].type == "hann|hamming|povey|blackman|rectangular");
  CHECK(by_key["frame.window"].default_value == "povey");
  CHECK(by_key["frame.sample_rate_hz"].type == "float");
  CHECK(by_key["frame.sample_rate_hz"].unit == "Hz");
  CHECK(by_key["frame.sample_rate_hz"].default_value == "16000");
  CHECK(by_key["frame.frame_length_ms"].unit == "ms");
  CHECK(by_key["frame.frame_length_ms"].default_value == "25");
  CHECK(by_key["frame.dither_seed"].type == "int");
  CHECK(by_key["frame.remove_dc_offset"].type == "bool");
  CHECK(by_key["frame.remove_dc_offset"].default_value == "true");
  CHECK(by_key["mel.num_mel_bins"].type == "int");
  CHECK(by_key["mel.num_mel_bins"].default_value == "40");
  CHECK(by_key["cmvn.stats_file"].type == "string");
  CHECK(by_key["cmvn.stats_file"].unit == "path");
  CHECK(by_key["cmvn.stats_file"].default_value == "\"\"");
  CHECK(by_key["cmvn.mode"].type == "none|utterance|global|sliding");

  // With a prefix, every key is under it.
  std::vector<ConfigDocRow> prefixed;
  CollectConfigDocs(FeatureConfig{}, "features", prefixed);
  REQUIRE(prefixed.size() == rows.size());
  for (size_t i = 0; i < rows.size(); ++i) CHECK(prefixed[i].key == "features." + rows[i].key);
}

}  // namespace
}  // namespace ossicle
