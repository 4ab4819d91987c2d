// ossicle merge OUT SHARD... — joins the outputs of sharded `spot` / `transcribe` runs (--shard K/N) into one
// output, and checks that every input was reported exactly once (docs/scale-out.md).
//
// A shard output is read as units: the records of one input file ending with its summary or error record
// (pipeline/record-writer.h). Units are copied byte for byte (JSON lines, or CSV rows under the shards' common
// header), so merging the shards of an order-sharded run, given in order 1..N, writes what one unsharded run
// would have written (apart from the "shard" key). With --inputs / --input-list the merged output follows the
// input list's order (what the unsharded run writes, also for --shard-by hash), and the files of the list
// that no shard reported are listed as missing; a file reported twice (a task run twice, overlapping shards)
// keeps its first unit and is listed as duplicated. Missing or duplicated files make the exit code 8 unless
// --allow-missing / --allow-duplicates; the merged output is written either way.
//
// The output is written like the batch commands write theirs: to OUT.partial, fsynced, renamed to OUT.
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "pipeline/batch-inputs.h"
#include "pipeline/record-writer.h"

namespace ossicle {

namespace {

namespace fs = std::filesystem;

// Missing / duplicated / unexpected files listed one per line before "... and N more".
constexpr size_t kMaxListed = 50;

enum class Format { kJsonLines, kCsv };

// The records of one input file, ending with its summary or error record, as they were written.
struct Unit {
  std::string file;
  std::string text;   // whole lines, each ending with '\n'
  size_t shard = 0;   // index into the shard list
  bool failed = false;
};

struct ShardOutput {
  std::string path;
  bool present = false;
  std::optional<Format> format;   // nullopt: empty file (a shard without inputs, in JSON lines)
  std::string csv_header;         // the header line, with its '\n'
  std::vector<Unit> units;
  std::vector<std::string> incomplete;  // files with records but no summary/error record (a cut run)
};

std::string Errno() { return std::strerror(errno); }

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open: " + Errno());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError(path + ": cannot read: " + Errno());
  return ss.str();
}

// Splits `text` into lines (each with its '\n'); for CSV a line end inside quotes does not end a row.
// A last line without '\n' (the cut write of a killed run) is returned in `tail`.
std::vector<std::string> SplitRows(const std::string& text, bool csv, std::string& tail) {
  std::vector<std::string> rows;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (csv && text[i] == '"') quoted = !quoted;  // "" inside quotes toggles twice: no change
    if (text[i] == '\n' && !quoted) {
      rows.push_back(text.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  tail = text.substr(start);
  return rows;
}

// Groups a shard's records into units. `type_file` returns a row's (type, file), or nullopt for a row that
// is not a record (an error naming line `line` is thrown by the caller).
void GroupUnits(ShardOutput& shard, size_t shard_index, const std::vector<std::string>& rows, size_t first_row,
                const std::function<std::optional<std::pair<std::string, std::string>>(const std::string&)>& type_file,
                const std::string& what) {
  std::map<std::string, std::string> pending;  // file -> its records so far
  std::vector<std::string> pending_order;
  for (size_t i = first_row; i < rows.size(); ++i) {
    const auto tf = type_file(rows[i]);
    if (!tf) {
      throw IoError(fmt::format("{}:{}: not {} with \"type\" and \"file\"; is it an output of ossicle spot or "
                                "transcribe?",
                                shard.path, i + 1, what));
    }
    const auto& [type, file] = *tf;
    auto [it, inserted] = pending.try_emplace(file);
    if (inserted) pending_order.push_back(file);
    it->second += rows[i];
    if (type == "summary" || type == "error") {
      shard.units.push_back(Unit{file, std::move(it->second), shard_index, type == "error"});
      pending.erase(it);
      pending_order.erase(std::find(pending_order.begin(), pending_order.end(), file));
    }
  }
  shard.incomplete = pending_order;
}

ShardOutput ReadShard(const std::string& path, size_t shard_index, std::optional<Format> forced) {
  ShardOutput shard;
  shard.path = path;
  const std::string text = ReadWholeFile(path);
  shard.present = true;
  if (text.empty()) return shard;
  const Format format = forced ? *forced : (text[0] == '{' ? Format::kJsonLines : Format::kCsv);
  shard.format = format;
  std::string tail;
  const std::vector<std::string> rows = SplitRows(text, format == Format::kCsv, tail);
  if (!tail.empty()) {
    fmt::print(stderr, "warning: {}: its last line is cut (a killed run?); dropped\n", path);
  }
  if (format == Format::kJsonLines) {
    GroupUnits(
        shard, shard_index, rows, 0,
        [](const std::string& row) -> std::optional<std::pair<std::string, std::string>> {
          const nlohmann::json j = nlohmann::json::parse(row, nullptr, /*allow_exceptions=*/false);
          if (!j.is_object()) return std::nullopt;
          const auto type = j.find("type"), file = j.find("file");
          if (type == j.end() || file == j.end() || !type->is_string() || !file->is_string()) return std::nullopt;
          return std::pair{type->get<std::string>(), file->get<std::string>()};
        },
        "a JSON record");
    return shard;
  }
  if (rows.empty()) throw IoError(path + ": no CSV header line");
  shard.csv_header = rows[0];
  const std::vector<std::vector<std::string>> header = ParseCsv(rows[0]);
  const std::vector<std::string> columns = header.empty() ? std::vector<std::string>{} : header[0];
  const auto type_col = std::find(columns.begin(), columns.end(), "type");
  const auto file_col = std::find(columns.begin(), columns.end(), "file");
  if (type_col == columns.end() || file_col == columns.end()) {
    throw IoError(path + ":1: a CSV header without \"type\" and \"file\" columns; is it an output of ossicle spot or "
                  "transcribe? (JSON lines start with '{')");
  }
  const size_t t = static_cast<size_t>(type_col - columns.begin()), f = static_cast<size_t>(file_col - columns.begin());
  GroupUnits(
      shard, shard_index, rows, 1,
      [t, f, n = columns.size()](const std::string& row) -> std::optional<std::pair<std::string, std::string>> {
        const std::vector<std::vector<std::string>> cells = ParseCsv(row);
        if (cells.size() != 1 || cells[0].size() != n) return std::nullopt;
        return std::pair{cells[0][t], cells[0][f]};
      },
      "a CSV row of the header's " + std::to_string(columns.size()) + " columns");
  return shard;
}

// Writes `text` to `path` completely or not at all (PATH.partial, fsync, rename, fsync of the folder).
void WriteAtomically(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (std::fflush(stdout) != 0) throw IoError("standard output: cannot write: " + Errno());
    return;
  }
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(partial + ": cannot open for writing: " + Errno());
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = Errno();
      ::close(fd);
      ::unlink(partial.c_str());
      throw IoError(partial + ": cannot write: " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = Errno();
    ::unlink(partial.c_str());
    throw IoError(partial + ": cannot sync: " + why);
  }
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string why = Errno();
    ::unlink(partial.c_str());
    throw IoError(partial + ": cannot rename to " + path + ": " + why);
  }
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // best effort: the rename itself already happened
    ::fsync(dfd);
    ::close(dfd);
  }
}

// The input list of --inputs and --input-list: what `spot` / `transcribe` would process, as their records
// name them (an argument that yields nothing is named by itself).
std::vector<std::string> ExpectedFiles(const std::vector<std::string>& inputs, const std::string& input_list) {
  std::vector<std::string> args = inputs;
  if (!input_list.empty()) {
    std::istringstream in(ReadWholeFile(input_list));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      args.push_back(line);
    }
  }
  std::vector<std::string> files;
  for (const BatchInput& input : ExpandBatchInputs(args)) files.push_back(input.path);
  return files;
}

void PrintList(std::string_view what, const std::vector<std::string>& items) {
  for (size_t i = 0; i < items.size() && i < kMaxListed; ++i) fmt::print(stderr, "{}: {}\n", what, items[i]);
  if (items.size() > kMaxListed) fmt::print(stderr, "{}: ... and {} more\n", what, items.size() - kMaxListed);
}

}  // namespace

CommandRunner AddMergeCommand(CLI::App& app) {
  struct Options {
    std::string out;
    std::vector<std::string> shards;
    std::vector<std::string> inputs;
    std::string input_list;
    std::string format = "auto";
    bool allow_missing = false;
    bool allow_duplicates = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "merge",
      "Join the outputs of sharded spot/transcribe runs (--shard K/N) into one, reporting input files missing or "
      "reported twice");
  cmd->add_option("out", opt->out, "Merged output (written to OUT.partial, then renamed); '-' = standard output")
      ->required();
  cmd->add_option("shards", opt->shards, "Shard outputs (JSON lines or CSV), in shard order")->required();
  cmd->add_option("--inputs", opt->inputs,
                  "The inputs the shards were run over (files, folders, globs, as given to spot/transcribe): "
                  "check every one was reported once, and write in their order (place after OUT SHARD...)");
  cmd->add_option("--input-list", opt->input_list,
                  "A file naming the inputs, one per line ('#' comments); like --inputs");
  cmd->add_option("--format", opt->format, "Shard format: auto = CSV unless a file starts with '{'")
      ->check(CLI::IsMember({"auto", "jsonl", "csv"}))
      ->capture_default_str();
  cmd->add_flag("--allow-missing", opt->allow_missing,
                "Exit 0 even when input files are missing (a shard output absent, a task stopped part-way)");
  cmd->add_flag("--allow-duplicates", opt->allow_duplicates, "Exit 0 even when a file was reported by two shards");

  return [opt]() {
    std::optional<Format> forced;
    if (opt->format == "jsonl") forced = Format::kJsonLines;
    if (opt->format == "csv") forced = Format::kCsv;

    // Read every shard first: a bad shard stops the merge before any output exists.
    std::vector<ShardOutput> shards;
    std::vector<std::string> absent;
    for (size_t i = 0; i < opt->shards.size(); ++i) {
      const std::string& path = opt->shards[i];
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        const std::string hint = fs::exists(path + ".partial", ec)
                                     ? " (" + path + ".partial exists: that task stopped before finishing; rerun it "
                                       "with --resume, or merge the .partial)"
                                     : "";
        if (!opt->allow_missing) {
          throw IoError(path + ": cannot open: No such file or directory" + hint +
                        "; --allow-missing merges the other shards");
        }
        fmt::print(stderr, "warning: {}: no such shard output{}\n", path, hint);
        absent.push_back(path);
        ShardOutput missing;
        missing.path = path;
        shards.push_back(std::move(missing));
        continue;
      }
      if (fs::is_directory(path, ec)) throw IoError(path + ": is a directory, not a shard output");
      shards.push_back(ReadShard(path, i, forced));
    }

    // One format (and one CSV header) for all.
    const ShardOutput* first_typed = nullptr;
    for (const ShardOutput& s : shards) {
      if (!s.format) continue;
      if (first_typed == nullptr) {
        first_typed = &s;
        continue;
      }
      if (*s.format != *first_typed->format) {
        throw IoError(fmt::format("{}: {}, but {} is {}; merge outputs of one format", s.path,
                                  *s.format == Format::kCsv ? "CSV" : "JSON lines", first_typed->path,
                                  *first_typed->format == Format::kCsv ? "CSV" : "JSON lines"));
      }
      if (s.csv_header != first_typed->csv_header) {
        throw IoError(fmt::format("{}: its CSV header ({}) is not that of {} ({}); merge outputs of one command "
                                  "with the same options",
                                  s.path, s.csv_header.substr(0, s.csv_header.size() - 1), first_typed->path,
                                  first_typed->csv_header.substr(0, first_typed->csv_header.size() - 1)));
      }
    }

    // First unit of each file; later ones are duplicates.
    std::map<std::string, const Unit*> by_file;
    std::vector<const Unit*> order;
    std::vector<std::string> duplicated;
    for (const ShardOutput& s : shards) {
      for (const std::string& f : s.incomplete) {
        fmt::print(stderr, "warning: {}: {} has records but no summary or error record (its task stopped "
                   "part-way?); dropped\n", s.path, f);
      }
      for (const Unit& u : s.units) {
        const auto [it, inserted] = by_file.emplace(u.file, &u);
        if (inserted) {
          order.push_back(&u);
        } else {
          duplicated.push_back(fmt::format("{} (in {} and {})", u.file, shards[it->second->shard].path, s.path));
        }
      }
    }

    std::vector<std::string> missing, unexpected;
    const bool check = !opt->inputs.empty() || !opt->input_list.empty();
    if (!check) {
      // Without the input list, a file a shard started but did not finish is the one known missing.
      for (const ShardOutput& s : shards) {
        for (const std::string& f : s.incomplete) {
          if (by_file.count(f) == 0 && std::find(missing.begin(), missing.end(), f) == missing.end()) {
            missing.push_back(f);
          }
        }
      }
    } else {
      std::vector<const Unit*> ordered;
      std::set<std::string> expected;
      for (const std::string& f : ExpectedFiles(opt->inputs, opt->input_list)) {
        if (!expected.insert(f).second) continue;
        const auto it = by_file.find(f);
        if (it == by_file.end()) {
          missing.push_back(f);
        } else {
          ordered.push_back(it->second);
        }
      }
      for (const Unit* u : order) {
        if (expected.count(u->file) == 0) {
          unexpected.push_back(u->file);
          ordered.push_back(u);
        }
      }
      order = std::move(ordered);
    }

    std::string text = first_typed != nullptr ? first_typed->csv_header : "";
    int64_t failed = 0;
    for (const Unit* u : order) {
      text += u->text;
      failed += u->failed ? 1 : 0;
    }
    WriteAtomically(opt->out, text);

    PrintList("missing", missing);
    PrintList("duplicated", duplicated);
    PrintList("not in the inputs", unexpected);
    const size_t read = shards.size() - absent.size();
    fmt::print(stderr, "merged {} file{} ({} failed) from {} shard output{}{}{}{}{}\n", order.size(),
               order.size() == 1 ? "" : "s", failed, read, read == 1 ? "" : "s",
               absent.empty() ? "" : fmt::format(" ({} absent)", absent.size()),
               check || !missing.empty() ? fmt::format("; {} missing", missing.size()) : "",
               fmt::format("; {} duplicated", duplicated.size()),
               opt->out.empty() || opt->out == "-" ? "" : " -> " + opt->out);
    if (!unexpected.empty()) {
      fmt::print(stderr, "warning: {} reported file{} not in the inputs (another input list? paths spelled "
                 "otherwise?)\n", unexpected.size(), unexpected.size() == 1 ? " is" : "s are");
    }
    if ((!missing.empty() && !opt->allow_missing) || (!duplicated.empty() && !opt->allow_duplicates)) {
      return static_cast<int>(kExitMergeIncomplete);
    }
    return static_cast<int>(kExitOk);
  };
}

}  // namespace ossicle
