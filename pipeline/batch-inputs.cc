#include "pipeline/batch-inputs.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "features/errors.h"

namespace ossicle {

namespace fs = std::filesystem;

namespace {

std::string ExtensionList() {
  std::string out;
  for (std::string_view e : kAudioExtensions) {
    if (!out.empty()) out += ", ";
    out += e;
  }
  return out;
}

bool Hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Found files and the folders that could not be listed, both by path.
struct Found {
  std::vector<fs::path> files;
  std::vector<BatchInput> errors;
};

void ListError(const fs::path& dir, const std::error_code& ec, Found& found) {
  found.errors.push_back({dir.string(), dir.string() + ": cannot list folder: " + ec.message()});
}

// The entries of `dir` (not "." / ".."), or nothing and an error entry.
std::vector<fs::directory_entry> ListFolder(const fs::path& dir, Found& found) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec);
  if (ec) {
    ListError(dir, ec, found);
    return entries;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      ListError(dir, ec, found);
      break;
    }
    entries.push_back(*it);
  }
  return entries;
}

// A folder entry that is a real folder (a link to a folder is not followed while walking: no cycles).
bool IsWalkableFolder(const fs::directory_entry& entry) {
  std::error_code ec;
  return entry.is_directory(ec) && !entry.is_symlink(ec);
}

// Every audio file below `dir` (hidden names skipped).
void WalkFolder(const fs::path& dir, Found& found) {
  for (const fs::directory_entry& entry : ListFolder(dir, found)) {
    if (Hidden(entry.path())) continue;
    std::error_code ec;
    if (IsWalkableFolder(entry)) {
      WalkFolder(entry.path(), found);
    } else if (!entry.is_directory(ec) && HasAudioExtension(entry.path().filename().string())) {
      found.files.push_back(entry.path());
    }
  }
}

// `dir` and every folder below it (hidden ones and links to folders skipped), for "**".
void FoldersBelow(const fs::path& dir, std::vector<fs::path>& out, Found& found) {
  out.push_back(dir);
  for (const fs::directory_entry& entry : ListFolder(dir, found)) {
    if (!Hidden(entry.path()) && IsWalkableFolder(entry)) FoldersBelow(entry.path(), out, found);
  }
}

fs::path JoinDir(const fs::path& dir, const fs::path& name) { return dir.empty() ? name : dir / name; }

// The paths matching `pattern`, component by component.
std::vector<fs::path> GlobMatches(const std::string& pattern, Found& found) {
  std::vector<fs::path> current{fs::path()};
  std::vector<fs::path> parts;
  for (const fs::path& part : fs::path(pattern)) {
    if (!part.empty()) parts.push_back(part);  // a trailing '/' gives an empty last element
  }
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string part = parts[k].string();
    const bool last = k + 1 == parts.size();
    std::vector<fs::path> next;
    if (parts[k].has_root_directory() || parts[k].has_root_name()) {
      next.push_back(parts[k]);  // "/" of an absolute pattern
    } else if (part == "**") {
      for (const fs::path& dir : current) FoldersBelow(dir, next, found);
    } else if (!IsGlobPattern(part)) {
      for (const fs::path& dir : current) {
        std::error_code ec;
        const fs::path p = JoinDir(dir, parts[k]);
        if (fs::exists(p, ec) && (last || fs::is_directory(p, ec))) next.push_back(p);
      }
    } else {
      for (const fs::path& dir : current) {
        for (const fs::directory_entry& entry : ListFolder(dir, found)) {
          const std::string name = entry.path().filename().string();
          if (::fnmatch(part.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
          std::error_code ec;
          if (last || entry.is_directory(ec)) next.push_back(JoinDir(dir, entry.path().filename()));
        }
      }
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    current = std::move(next);
    if (current.empty()) break;
  }
  return current;
}

// Files (and listing errors) in path order.
std::vector<BatchInput> Sorted(Found found) {
  std::sort(found.files.begin(), found.files.end());
  std::vector<std::pair<fs::path, BatchInput>> all;
  for (fs::path& f : found.files) all.emplace_back(f, BatchInput{f.string(), ""});
  for (BatchInput& e : found.errors) all.emplace_back(fs::path(e.path), std::move(e));
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<BatchInput> out;
  for (auto& [p, input] : all) out.push_back(std::move(input));
  return out;
}

std::vector<BatchInput> ExpandOne(const std::string& arg) {
  std::error_code ec;
  const fs::file_status status = fs::status(arg, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) return {BatchInput{arg, ""}};
    Found found;
    WalkFolder(arg, found);
    if (found.files.empty() && found.errors.empty()) {
      return {BatchInput{arg, arg + ": no audio files in this folder or below (extensions: " + ExtensionList() + ")"}};
    }
    return Sorted(std::move(found));
  }
  if (!IsGlobPattern(arg)) {
    const std::string why = ec ? ec.message() : std::make_error_code(std::errc::no_such_file_or_directory).message();
    return {BatchInput{arg, arg + ": cannot open: " + why}};
  }
  Found found;
  for (const fs::path& match : GlobMatches(arg, found)) {
    if (fs::is_directory(match, ec)) {
      WalkFolder(match, found);
    } else {
      found.files.push_back(match);
    }
  }
  if (found.files.empty() && found.errors.empty()) return {BatchInput{arg, arg + ": no file matches this pattern"}};
  return Sorted(std::move(found));
}

// The identity of a file for de-duplication: its canonical path (symbolic links and ".." resolved).
std::string IdentityOf(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(path, ec);
  if (ec) p = fs::absolute(path, ec).lexically_normal();
  return p.string();
}

}  // namespace

bool HasAudioExtension(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return false;
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(kAudioExtensions.begin(), kAudioExtensions.end(), ext) != kAudioExtensions.end();
}

bool IsGlobPattern(std::string_view arg) { return arg.find_first_of("*?[") != std::string_view::npos; }

std::vector<BatchInput> ExpandBatchInputs(const std::vector<std::string>& args) {
  std::vector<BatchInput> out;
  std::set<std::string> seen;
  for (const std::string& arg : args) {
    for (BatchInput& input : ExpandOne(arg)) {
      const std::string key = input.Ok() ? IdentityOf(input.path) : input.error;
      if (seen.insert(key).second) out.push_back(std::move(input));
    }
  }
  return out;
}

// ---- shards

namespace {

// A whole decimal number in [0, max]; nullopt for anything else (signs, spaces, empty, overflow).
std::optional<int64_t> ParseCount(std::string_view text, int64_t max) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > max) return std::nullopt;
  return value;
}

constexpr int64_t kMaxEnvironmentValue = int64_t{1} << 40;  // far above any job array's task ids

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

std::string Shard::Name() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard ParseShard(std::string_view text, std::string_view option) {
  const size_t slash = text.find('/');
  std::optional<int64_t> k, n;
  if (slash != std::string_view::npos) {
    k = ParseCount(text.substr(0, slash), kMaxShards);
    n = ParseCount(text.substr(slash + 1), kMaxShards);
  }
  if (!k || !n || *k < 1 || *n < 1 || *k > *n) {
    throw ConfigError(std::string(option) + " " + Quoted(text) + ": expected K/N with 1 <= K <= N <= " +
                      std::to_string(kMaxShards) + " (shard K of N), e.g. 1/4");
  }
  Shard shard;
  shard.index = *k;
  shard.count = *n;
  shard.origin = std::string(option) + " " + std::string(text);
  return shard;
}

EnvironmentLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Shard ShardFromEnvironment(const EnvironmentLookup& env, std::optional<int64_t> count, std::string_view option) {
  const std::string opt(option);
  if (count && (*count < 1 || *count > kMaxShards)) {
    throw ConfigError(opt + ": shard count " + std::to_string(*count) + "; expected 1 to " +
                      std::to_string(kMaxShards));
  }
  // A variable that must hold a whole number; `required` = absent is an error.
  auto number = [&](const std::string& name, bool required) -> std::optional<int64_t> {
    const std::optional<std::string> value = env(name);
    if (!value) {
      if (!required) return std::nullopt;
      throw ConfigError(opt + ": " + name + " is not set (a Slurm job array sets it with SLURM_ARRAY_TASK_ID)");
    }
    const std::optional<int64_t> n = ParseCount(*value, kMaxEnvironmentValue);
    if (!n) throw ConfigError(opt + ": " + name + "=" + Quoted(*value) + ": expected a non-negative integer");
    return n;
  };

  Shard shard;
  if (env("SLURM_ARRAY_TASK_ID")) {
    const int64_t id = *number("SLURM_ARRAY_TASK_ID", true);
    const int64_t tasks = *number("SLURM_ARRAY_TASK_COUNT", true);
    const int64_t min = *number("SLURM_ARRAY_TASK_MIN", true);
    const int64_t step = number("SLURM_ARRAY_TASK_STEP", false).value_or(1);
    const std::optional<int64_t> max = number("SLURM_ARRAY_TASK_MAX", false);
    std::string where = "SLURM_ARRAY_TASK_ID=" + std::to_string(id) + " (SLURM_ARRAY_TASK_MIN=" +
                        std::to_string(min) + (max ? ", SLURM_ARRAY_TASK_MAX=" + std::to_string(*max) : "") +
                        ", SLURM_ARRAY_TASK_STEP=" + std::to_string(step) +
                        ", SLURM_ARRAY_TASK_COUNT=" + std::to_string(tasks) + ")";
    if (tasks < 1 || tasks > kMaxShards) {
      throw ConfigError(opt + ": " + where + ": SLURM_ARRAY_TASK_COUNT expected 1 to " + std::to_string(kMaxShards));
    }
    if (step < 1) throw ConfigError(opt + ": " + where + ": SLURM_ARRAY_TASK_STEP expected >= 1");
    if (max && (*max < min || (*max - min) % step != 0 || (*max - min) / step + 1 != tasks)) {
      throw ConfigError(opt + ": " + where + ": the array's task ids are not one evenly stepped range " +
                        "(e.g. --array=1,3,8), so its tasks would not cover every shard; submit " +
                        "--array=0-" + std::to_string(tasks - 1) + " or give --shard K/N yourself");
    }
    if (id < min || (id - min) % step != 0 || (id - min) / step >= tasks) {
      throw ConfigError(opt + ": " + where + ": the task id is not one of the array's " + std::to_string(tasks) +
                        " ids MIN + STEP x (0 to COUNT - 1)");
    }
    if (count && *count != tasks) {
      throw ConfigError(opt + ": --shard-count " + std::to_string(*count) + " but the Slurm array has " +
                        "SLURM_ARRAY_TASK_COUNT=" + std::to_string(tasks) + " tasks");
    }
    shard.index = (id - min) / step + 1;
    shard.count = tasks;
    shard.origin = std::move(where);
  } else if (env("JOB_COMPLETION_INDEX")) {
    const int64_t index = *number("JOB_COMPLETION_INDEX", true);
    const std::string where = "JOB_COMPLETION_INDEX=" + std::to_string(index);
    if (!count) {
      throw ConfigError(opt + ": " + where + " (a Kubernetes indexed Job) needs the number of shards: add " +
                        "--shard-count N (the Job's spec.completions)");
    }
    if (index >= *count) {
      throw ConfigError(opt + ": " + where + ": expected 0 to " + std::to_string(*count - 1) + " (--shard-count " +
                        std::to_string(*count) + ")");
    }
    shard.index = index + 1;
    shard.count = *count;
    shard.origin = where + ", --shard-count " + std::to_string(*count);
  } else {
    throw ConfigError(opt + ": no job array in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm job array) " +
                      "nor JOB_COMPLETION_INDEX (a Kubernetes indexed Job) is set; give --shard K/N instead");
  }
  return shard;
}

uint64_t ShardHash(std::string_view path) {
  // FNV-1a, 64 bit: offset basis and prime from the FNV reference (http://www.isthe.com/chongo/tech/comp/fnv/).
  uint64_t h = 14695981039346656037ULL;
  for (const char c : path) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  // splitmix64's finaliser (Steele, Lea, Flood 2014): every input bit affects the low bits used by `mod N`.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::vector<BatchInput> SelectShard(const std::vector<BatchInput>& inputs, const Shard& shard) {
  if (shard.count < 1 || shard.count > kMaxShards || shard.index < 1 || shard.index > shard.count) {
    throw ConfigError("shard " + shard.Name() + ": expected K/N with 1 <= K <= N <= " + std::to_string(kMaxShards));
  }
  std::vector<BatchInput> out;
  if (shard.by == ShardBy::kOrder) {
    // M * N <= 2^63 for any list that fits in memory (M < 2^40) and N <= kMaxShards < 2^20.
    const int64_t m = static_cast<int64_t>(inputs.size());
    const int64_t begin = (shard.index - 1) * m / shard.count, end = shard.index * m / shard.count;
    out.assign(inputs.begin() + begin, inputs.begin() + end);
  } else {
    const uint64_t n = static_cast<uint64_t>(shard.count), k = static_cast<uint64_t>(shard.index - 1);
    for (const BatchInput& input : inputs) {
      if (ShardHash(input.path) % n == k) out.push_back(input);
    }
  }
  return out;
}

}  // namespace ossicle
