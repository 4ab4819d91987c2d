#include "pipeline/record-writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "features/errors.h"

namespace ossicle {

namespace fs = std::filesystem;

namespace {

constexpr auto kInvalidUtf8 = Record::error_handler_t::replace;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Errno() { return std::strerror(errno); }

// The "file" of a record as it reads back from the output: JSON cannot hold invalid UTF-8, so such bytes
// are written as U+FFFD; resume compares names in that form.
std::string JsonKey(const std::string& file) {
  return Record::parse(Record(file).dump(-1, ' ', false, kInvalidUtf8))
      .get<std::string>();
}

// The place of a key in the canonical order (agreed keys first, in the order of the agreed formats).
int KeyRank(const std::string& key) {
  static constexpr std::array<std::string_view, 16> kOrder{
      "type",   "file",       "keyword",    "text", "token",       "start_s", "end_s", "score",
      "tokens", "confidence", "duration_s", "hits", "transcripts", "warning", "error", "exit_code"};
  for (size_t i = 0; i < kOrder.size(); ++i) {
    if (kOrder[i] == key) return static_cast<int>(i);
  }
  return static_cast<int>(kOrder.size());
}

void AppendJson(const Record& v, std::string& out) {
  if (v.is_object()) {
    std::vector<std::string> keys;
    for (const auto& [key, unused] : v.items()) keys.push_back(key);
    std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
      const int ra = KeyRank(a), rb = KeyRank(b);
      return ra != rb ? ra < rb : a < b;
    });
    out += '{';
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i) out += ',';
      out += Record(keys[i]).dump(-1, ' ', false, kInvalidUtf8);
      out += ':';
      AppendJson(v.at(keys[i]), out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      AppendJson(v[i], out);
    }
    out += ']';
  } else {
    out += v.dump(-1, ' ', false, kInvalidUtf8);
  }
}

std::string CsvCell(const Record& v) {
  std::string cell;
  if (v.is_null()) return cell;
  if (v.is_string()) {
    cell = v.get<std::string>();
  } else if (v.is_boolean()) {
    cell = v.get<bool>() ? "true" : "false";
  } else {
    cell = JsonLine(v);
  }
  return cell;
}

std::string QuoteCsv(const std::string& cell) {
  const bool needs = cell.find_first_of(",\"\r\n") != std::string::npos ||
                     (!cell.empty() && (cell.front() == ' ' || cell.back() == ' '));
  if (!needs) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string CsvLine(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ',';
    out += QuoteCsv(cells[i]);
  }
  return out;
}

std::string ReadWholeFile(int fd, const std::string& path) {
  std::string text;
  char buffer[1 << 16];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(path + ": cannot read: " + Errno());
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

void WriteAll(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(path + ": cannot write: " + Errno());
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// Opens (creating) `path` for appending and takes its exclusive lock.
int OpenLocked(const std::string& path, int extra_flags) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0) throw IoError(path + ": cannot open for writing: " + Errno());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const std::string why = errno == EWOULDBLOCK ? "another ossicle run is writing this output (locked)" : Errno();
    ::close(fd);
    throw IoError(path + ": " + why);
  }
  return fd;
}

void SyncFolderOf(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

// One record read back from an earlier output.
struct OldRecord {
  std::string text;  // the line(s), with the line end
  std::string file;
  bool terminal = false;
  std::optional<int> error_exit_code;
};

int ParseExitCode(const std::string& text) {
  try {
    return std::stoi(text);
  } catch (const std::exception&) {
    return 1;  // an error record whose code was lost still marks a failure
  }
}

}  // namespace

// ---- records

Record MakeHitRecord(const std::string& file, const std::string& keyword, double start_s, double end_s, double score) {
  Record r;
  r["type"] = "hit";
  r["file"] = file;
  r["keyword"] = keyword;
  r["start_s"] = start_s;
  r["end_s"] = end_s;
  r["score"] = score;
  return r;
}

Record MakeTranscriptRecord(const std::string& file, const std::string& text, const std::vector<RecordToken>& tokens,
                            double confidence) {
  Record r;
  r["type"] = "transcript";
  r["file"] = file;
  r["text"] = text;
  r["tokens"] = Record::array();
  for (const RecordToken& t : tokens) {
    Record tok;
    tok["token"] = t.token;
    tok["start_s"] = t.start_s;
    tok["end_s"] = t.end_s;
    r["tokens"].push_back(std::move(tok));
  }
  r["confidence"] = confidence;
  return r;
}

Record MakeSummaryRecord(const std::string& file, double duration_s, int64_t hits) {
  Record r;
  r["type"] = "summary";
  r["file"] = file;
  r["duration_s"] = duration_s;
  r["hits"] = hits;
  return r;
}

Record MakeErrorRecord(const std::string& file, const std::string& message, int exit_code) {
  Record r;
  r["type"] = "error";
  r["file"] = file;
  r["error"] = message;
  r["exit_code"] = exit_code;
  return r;
}

bool IsTerminalRecord(const Record& record) {
  const auto it = record.find("type");
  return it != record.end() && it->is_string() && (*it == "summary" || *it == "error");
}

// ---- formats

std::string JsonLine(const Record& record) {
  std::string out;
  AppendJson(record, out);
  return out;
}

std::string CsvRow(const Record& record, const std::vector<std::string>& columns) {
  std::vector<std::string> cells;
  for (const std::string& c : columns) {
    const auto it = record.find(c);
    cells.push_back(it == record.end() ? std::string() : CsvCell(*it));
  }
  return CsvLine(cells);
}

std::string CsvHeader(const std::vector<std::string>& columns) { return CsvLine(columns); }

std::vector<std::vector<std::string>> ParseCsv(std::string_view text, bool* dropped_tail) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, row_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    row_started = true;
    if (quoted) {
      if (c != '"') {
        cell += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
    } else if (c == '\n') {
      if (!cell.empty() && cell.back() == '\r') cell.pop_back();
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
      row_started = false;
    } else {
      cell += c;
    }
  }
  if (dropped_tail != nullptr) *dropped_tail = row_started;
  return rows;
}

// ---- writer

RecordWriter::RecordWriter(RecordWriterOptions options) : options_(std::move(options)) {
  if (options_.path == "-") options_.path.clear();
  if (options_.format == RecordFormat::kCsv && options_.csv_columns.empty()) {
    throw ConfigError("record writer: CSV output needs at least one column");
  }
  if (options_.path.empty()) {
    if (options_.resume) {
      throw ConfigError("--resume needs an output file (--out FILE): records on standard output cannot be resumed");
    }
    if (options_.format == RecordFormat::kCsv) WriteText(CsvHeader(options_.csv_columns) + "\n");
    return;
  }
  std::error_code ec;
  if (fs::is_directory(options_.path, ec)) {
    throw IoError(options_.path + ": is a folder; expected an output file name");
  }
  partial_path_ = options_.path + ".partial";
  std::string source;
  if (options_.resume) {
    if (fs::exists(partial_path_, ec)) {
      source = partial_path_;
    } else if (fs::exists(options_.path, ec)) {
      source = options_.path;
    }
  }
  const bool partial_existed = fs::exists(partial_path_, ec);
  fd_ = OpenLocked(partial_path_, 0);
  last_sync_s_ = NowSeconds();
  try {
    if (!source.empty()) {
      ResumeFrom(source);
      return;
    }
    if (::ftruncate(fd_, 0) != 0) throw IoError(partial_path_ + ": cannot truncate: " + Errno());
    if (options_.format == RecordFormat::kCsv) WriteText(CsvHeader(options_.csv_columns) + "\n");
  } catch (...) {
    // No destructor runs for a constructor that throws: release the file here, and leave an older
    // PATH.partial as it was.
    ::close(fd_);
    if (!partial_existed) ::unlink(partial_path_.c_str());
    throw;
  }
}

RecordWriter::~RecordWriter() {
  if (fd_ < 0 || finished_) return;
  ::close(fd_);
  // Keep what a --resume can use; a run that wrote nothing leaves nothing behind.
  if (!has_results_) ::unlink(partial_path_.c_str());
}

void RecordWriter::ResumeFrom(const std::string& source) {
  resumed_.source = source;
  std::string text;
  {
    const int fd = source == partial_path_ ? fd_ : ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(source + ": cannot open: " + Errno());
    try {
      text = ReadWholeFile(fd, source);
    } catch (...) {
      if (fd != fd_) ::close(fd);
      throw;
    }
    if (fd != fd_) ::close(fd);
  }

  std::vector<OldRecord> old;
  std::string header;
  if (options_.format == RecordFormat::kJsonLines) {
    size_t line_number = 0;
    for (size_t begin = 0; begin < text.size();) {
      const size_t end = text.find('\n', begin);
      ++line_number;
      if (end == std::string::npos) {  // cut by a kill: no line end
        ++resumed_.dropped_lines;
        break;
      }
      const std::string_view line(text.data() + begin, end - begin);
      begin = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      Record r = Record::parse(line, nullptr, false);
      const bool ok = r.is_object() && r.contains("type") && r["type"].is_string() && r.contains("file") &&
                      r["file"].is_string();
      if (!ok) {
        throw IoError(source + ":" + std::to_string(line_number) +
                      ": not a JSON record with \"type\" and \"file\"; this file is not a JSON-lines output of "
                      "ossicle (use another --out, or --format csv for a CSV output)");
      }
      OldRecord o{std::string(line) + "\n", r["file"].get<std::string>(), IsTerminalRecord(r), std::nullopt};
      if (r["type"] == "error") {
        o.error_exit_code = r.contains("exit_code") && r["exit_code"].is_number_integer() ? r["exit_code"].get<int>() : 1;
      }
      old.push_back(std::move(o));
    }
  } else {
    bool cut = false;
    const auto rows = ParseCsv(text, &cut);
    if (cut) ++resumed_.dropped_lines;
    header = CsvHeader(options_.csv_columns);
    if (!rows.empty()) {
      if (rows[0] != options_.csv_columns) {
        throw IoError(source + ": its CSV header (" + CsvLine(rows[0]) + ") is not this command's (" + header +
                      "); use another --out");
      }
      auto column = [&](const char* name) {
        for (size_t i = 0; i < options_.csv_columns.size(); ++i) {
          if (options_.csv_columns[i] == name) return static_cast<int>(i);
        }
        throw IoError(source + ": resume needs the CSV columns 'type' and 'file'");
      };
      const int type_col = column("type"), file_col = column("file");
      int exit_col = -1;
      for (size_t i = 0; i < options_.csv_columns.size(); ++i) {
        if (options_.csv_columns[i] == "exit_code") exit_col = static_cast<int>(i);
      }
      for (size_t k = 1; k < rows.size(); ++k) {
        const auto& row = rows[k];
        if (row.size() != options_.csv_columns.size()) {
          throw IoError(source + ": row " + std::to_string(k + 1) + " has " + std::to_string(row.size()) +
                        " cells; the header has " + std::to_string(options_.csv_columns.size()));
        }
        const std::string& type = row[static_cast<size_t>(type_col)];
        OldRecord o{CsvLine(row) + "\n", row[static_cast<size_t>(file_col)], type == "summary" || type == "error",
                    std::nullopt};
        if (type == "error") o.error_exit_code = exit_col < 0 ? 1 : ParseExitCode(row[static_cast<size_t>(exit_col)]);
        old.push_back(std::move(o));
      }
    }
  }

  // Files with their terminal record are complete; the records of the others are dropped (redone).
  std::set<std::string> done;
  for (const OldRecord& o : old) {
    if (o.terminal) done.insert(o.file);
  }
  std::string kept = header.empty() ? std::string() : header + "\n";
  std::set<std::string> failed;
  for (const OldRecord& o : old) {
    if (!done.count(o.file)) {
      ++resumed_.dropped_records;
      continue;
    }
    kept += o.text;
    if (o.error_exit_code) {
      failed.insert(o.file);
      if (first_error_exit_code_ == 0) first_error_exit_code_ = *o.error_exit_code;
    }
  }
  complete_ = done;
  resumed_.complete_files = static_cast<int64_t>(done.size());
  resumed_.failed_files = static_cast<int64_t>(failed.size());
  has_results_ = !done.empty();

  if (source == partial_path_ && kept == text) return;  // nothing to drop: keep appending to it
  // Replace PATH.partial by the kept records without a moment where they exist nowhere.
  const std::string tmp = partial_path_ + ".tmp";
  const int fd = OpenLocked(tmp, O_TRUNC);
  try {
    if (::ftruncate(fd, 0) != 0) throw IoError(tmp + ": cannot truncate: " + Errno());
    WriteAll(fd, kept, tmp);
    if (::fsync(fd) != 0) throw IoError(tmp + ": cannot sync: " + Errno());
    if (::rename(tmp.c_str(), partial_path_.c_str()) != 0) {
      throw IoError(tmp + ": cannot rename to " + partial_path_ + ": " + Errno());
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd_);
  fd_ = fd;
  SyncFolderOf(partial_path_);
}

bool RecordWriter::IsComplete(const std::string& file) const {
  if (complete_.count(file) != 0) return true;
  return options_.format == RecordFormat::kJsonLines && complete_.count(JsonKey(file)) != 0;
}

std::string RecordWriter::Format(const Record& record) const {
  if (options_.format == RecordFormat::kCsv) return CsvRow(record, options_.csv_columns) + "\n";
  return JsonLine(record) + "\n";
}

void RecordWriter::Track(const Record& record) {
  if (!IsTerminalRecord(record)) return;
  const auto file = record.find("file");
  if (file != record.end() && file->is_string()) {
    const std::string name = file->get<std::string>();
    complete_.insert(name);
    if (options_.format == RecordFormat::kJsonLines) complete_.insert(JsonKey(name));
  }
  if (record["type"] == "error" && first_error_exit_code_ == 0) {
    const auto code = record.find("exit_code");
    first_error_exit_code_ = code != record.end() && code->is_number_integer() ? code->get<int>() : 1;
  }
}

void RecordWriter::WriteFile(const std::vector<Record>& records) {
  if (finished_) throw IoError((options_.path.empty() ? "standard output" : options_.path) + ": already finished");
  std::string text;
  for (const Record& r : records) text += Format(r);
  WriteText(text);  // one write: a kill leaves whole files' records and at most one cut line
  for (const Record& r : records) Track(r);
  ++files_written_;
  if (!records.empty()) has_results_ = true;
  if (fd_ >= 0 && NowSeconds() - last_sync_s_ >= options_.fsync_interval_s) {
    if (::fsync(fd_) != 0) throw IoError(partial_path_ + ": cannot sync: " + Errno());
    last_sync_s_ = NowSeconds();
  }
}

void RecordWriter::WriteText(const std::string& text) {
  if (text.empty()) return;
  if (fd_ >= 0) {
    WriteAll(fd_, text, partial_path_);
    return;
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    throw IoError(std::string("standard output: cannot write: ") + Errno());
  }
}

void RecordWriter::Finish() {
  if (finished_) return;
  if (fd_ < 0) {
    if (std::fflush(stdout) != 0) throw IoError(std::string("standard output: cannot write: ") + Errno());
    finished_ = true;
    return;
  }
  if (::fsync(fd_) != 0) throw IoError(partial_path_ + ": cannot sync: " + Errno());
  if (::rename(partial_path_.c_str(), options_.path.c_str()) != 0) {
    throw IoError(partial_path_ + ": cannot rename to " + options_.path + ": " + Errno());
  }
  ::close(fd_);  // after the rename: the lock covers the whole life of PATH.partial
  finished_ = true;
  SyncFolderOf(options_.path);
}

}  // namespace ossicle
