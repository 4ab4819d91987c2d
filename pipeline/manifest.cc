#include "pipeline/manifest.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "features/errors.h"
#include "pipeline/text-helpers.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

std::string Where(const std::string& file, int64_t line) { return file + ":" + std::to_string(line); }

// std::getline with a bound: a line longer than max_bytes (a binary file, a runaway generator) is refused
// before it is held in memory. Returns false at the end of the input.
bool ReadBoundedLine(std::istream& in, std::string& line, int64_t max_bytes, const std::string& file,
                     int64_t line_no) {
  line.clear();
  std::streambuf* buf = in.rdbuf();
  bool any = false;
  for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
    any = true;
    if (c == '\n') return true;
    if (static_cast<int64_t>(line.size()) >= max_bytes) {
      throw IoError(Where(file, line_no) + ": line longer than " + std::to_string(max_bytes) +
                    " bytes (limit manifest max_line_bytes); not a manifest?");
    }
    line.push_back(static_cast<char>(c));
  }
  return any;
}

// A number of seconds as written in the duration column ("0.2980", "1", "3.300000").
bool ParseSeconds(std::string_view text, double* out) {
  if (text.empty()) return false;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value) || value < 0) return false;
  *out = value;
  return true;
}

}  // namespace

void ManifestColumns::Validate(std::string_view key_path) const {
  if (path.empty()) throw ConfigError(RuleMessage(key_path, "path", path, "a column name"));
}

std::string EntryLocation(const std::string& tsv_path, const ManifestEntry& entry) {
  return Where(tsv_path, entry.line);
}

std::vector<ManifestEntry> ReadManifest(const std::string& tsv_path, const ManifestColumns& columns,
                                        const ManifestReadOptions& options) {
  columns.Validate();
  std::error_code ec;
  if (fs::is_directory(tsv_path, ec)) throw IoError(tsv_path + ": is a directory, not a manifest file");
  std::ifstream in(tsv_path, std::ios::binary);
  if (!in) throw IoError(tsv_path + ": cannot open manifest: " + std::strerror(errno));
  const fs::path folder = fs::path(tsv_path).parent_path();

  std::vector<std::string> header;
  struct Wanted {
    const char* field;
    const std::string* name;
    int index = -1;
  };
  std::vector<Wanted> wanted = {{"path", &columns.path},
                                {"label", &columns.label},
                                {"transcript", &columns.transcript},
                                {"duration", &columns.duration}};

  std::vector<ManifestEntry> entries;
  std::string line;
  int64_t line_no = 0;
  bool have_header = false;
  while (ReadBoundedLine(in, line, options.max_line_bytes, tsv_path, line_no + 1)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string_view> fields = SplitTabs(line);
    if (!have_header) {
      have_header = true;
      for (size_t i = 0; i < fields.size(); ++i) {
        const std::string name(fields[i]);
        if (name.empty()) {
          throw IoError(Where(tsv_path, line_no) + ": column " + std::to_string(i + 1) +
                        " of the header has no name; expected column names separated by tabs");
        }
        for (size_t j = 0; j < header.size(); ++j) {
          if (header[j] == name) {
            throw IoError(Where(tsv_path, line_no) + ": duplicate column '" + name + "' (columns " +
                          std::to_string(j + 1) + " and " + std::to_string(i + 1) + ")");
          }
        }
        header.push_back(name);
      }
      for (auto& w : wanted) {
        if (w.name->empty()) continue;
        for (size_t i = 0; i < header.size(); ++i) {
          if (header[i] == *w.name) w.index = static_cast<int>(i);
        }
        if (w.index < 0) {
          throw ConfigError(Where(tsv_path, line_no) + ": manifest.columns." + w.field + " = '" + *w.name +
                            "': no such column; the header has " + JoinNames(header));
        }
      }
      continue;
    }
    if (fields.size() != header.size()) {
      throw IoError(Where(tsv_path, line_no) + ": " + std::to_string(fields.size()) + " field" +
                    (fields.size() == 1 ? "" : "s") + "; expected " + std::to_string(header.size()) +
                    " as in the header (" + JoinNames(header) + ")");
    }
    ManifestEntry e;
    e.line = line_no;
    const std::string_view path_text = fields[static_cast<size_t>(wanted[0].index)];
    if (path_text.empty()) {
      throw IoError(Where(tsv_path, line_no) + ": column '" + columns.path + "' is empty; expected an audio file path");
    }
    const fs::path p{std::string(path_text)};
    e.audio_path = (p.is_absolute() ? p : folder / p).lexically_normal().string();
    e.written_path = std::string(path_text);
    if (wanted[1].index >= 0) e.label = std::string(fields[static_cast<size_t>(wanted[1].index)]);
    if (wanted[2].index >= 0) e.transcript = std::string(fields[static_cast<size_t>(wanted[2].index)]);
    if (wanted[3].index >= 0) {
      const std::string_view d = fields[static_cast<size_t>(wanted[3].index)];
      if (!ParseSeconds(d, &e.duration_s)) {
        throw IoError(Where(tsv_path, line_no) + ": column '" + columns.duration + "' = '" + std::string(d) +
                      "'; expected a number of seconds >= 0");
      }
    }
    if (options.check_files && !fs::is_regular_file(e.audio_path, ec)) {
      throw IoError(Where(tsv_path, line_no) + ": audio file '" + std::string(path_text) + "' (resolved to '" +
                    e.audio_path + "') " + (fs::exists(e.audio_path, ec) ? "is not a regular file" : "does not exist"));
    }
    entries.push_back(std::move(e));
  }
  if (in.bad()) throw IoError(tsv_path + ": read error");
  if (!have_header) {
    throw IoError(tsv_path + ":1: manifest has no header line; expected column names separated by tabs");
  }
  if (entries.empty()) throw IoError(tsv_path + ": manifest has a header but no entries");
  return entries;
}

}  // namespace ossicle
