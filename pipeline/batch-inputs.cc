#include "pipeline/batch-inputs.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

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

fs::path Join(const fs::path& dir, const fs::path& name) { return dir.empty() ? name : dir / name; }

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
        const fs::path p = Join(dir, parts[k]);
        if (fs::exists(p, ec) && (last || fs::is_directory(p, ec))) next.push_back(p);
      }
    } else {
      for (const fs::path& dir : current) {
        for (const fs::directory_entry& entry : ListFolder(dir, found)) {
          const std::string name = entry.path().filename().string();
          if (::fnmatch(part.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
          std::error_code ec;
          if (last || entry.is_directory(ec)) next.push_back(Join(dir, entry.path().filename()));
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

}  // namespace ossicle
