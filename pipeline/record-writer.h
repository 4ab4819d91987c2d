// Result records of batch commands and the writer that puts them in a file (or on stdout) safely.
//
//   ossicle::RecordWriterOptions opt;
//   opt.path = "hits.jsonl"; opt.resume = true;
//   ossicle::RecordWriter writer(opt);                     // reads hits.jsonl.partial / hits.jsonl
//   if (!writer.IsComplete("a.wav")) writer.WriteFile({MakeSummaryRecord("a.wav", 1.2, 0)});
//   writer.Finish();                                       // hits.jsonl.partial -> hits.jsonl
//
// Records are the JSON objects of pipeline/stage.h (`Record`). Whatever order a record's keys are held in,
// they are written in one canonical order: type, file, keyword, text, token, start_s, end_s, score, tokens,
// confidence, duration_s, hits, transcripts, warning, error, exit_code, then any other key alphabetically (nested
// objects too), so every output reads the same way. The agreed kinds:
//   hit        {"type":"hit","file":F,"keyword":K,"start_s":..,"end_s":..,"score":..}
//   transcript {"type":"transcript","file":F,"text":..,"tokens":[{"token":..,"start_s":..,"end_s":..}],
//               "confidence":..}
//   summary    {"type":"summary","file":F,"duration_s":..,"hits":N, ...}  one per file, after its results
//   error      {"type":"error","file":F,"error":"<message>","exit_code":N} instead of the summary
// A file is complete once its summary or error record is written.
//
// Formats: JSON lines (one record per line) or CSV (RFC 4180: a header of `csv_columns`, then one row per
// record; a key missing from a record is an empty cell; arrays and objects, e.g. "tokens", are written as
// compact JSON in their cell; keys not in `csv_columns` are dropped).
//
// Crash safety (a file output; stdout is simply flushed after every input file):
//   * records go to PATH.partial, appended one input file at a time with a single write(2) of whole
//     lines, so a killed process (kill -9) leaves at most one incomplete last line; fsync(2) runs at most
//     every `fsync_interval_s` and before the rename, so a power cut loses at most that much;
//   * Finish() renames PATH.partial to PATH (atomic), then fsyncs the folder: PATH is always either the
//     previous complete output or the new complete one, never half-written;
//   * PATH.partial is locked (flock) while a writer holds it: a second run on the same output is refused;
//   * a writer destroyed without Finish() (an error stopped the run) keeps PATH.partial for --resume when it
//     holds results, and removes it otherwise.
// Resume (`resume = true`): reads PATH.partial if present (the state of the last run, killed or failed),
// else PATH (a finished output, e.g. to add files); keeps whole lines only, drops an unparseable line (the
// cut last line of a killed run) and the records of files without their summary/error record, copies the
// rest into a fresh PATH.partial (written to PATH.partial.tmp and renamed, so a crash here loses nothing)
// and reports those files as complete. Without `resume` an existing PATH.partial is replaced and PATH is
// kept until Finish() replaces it.
//
// Errors: IoError naming the path ("out/hits.jsonl.partial: cannot open for writing: No such file or
// directory", "...: another ossicle run is writing this output (locked)", a CSV header with other columns,
// a failed write or rename). ConfigError for `resume` without a file path.
//
// Thread safety: one thread uses a writer (the batch runner's writing thread).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "pipeline/stage.h"

namespace ossicle {

Record MakeHitRecord(const std::string& file, const std::string& keyword, double start_s, double end_s, double score);
// tokens: (token, start_s, end_s)
struct RecordToken {
  std::string token;
  double start_s = 0.0;
  double end_s = 0.0;
};
Record MakeTranscriptRecord(const std::string& file, const std::string& text, const std::vector<RecordToken>& tokens,
                            double confidence);
Record MakeSummaryRecord(const std::string& file, double duration_s, int64_t hits);
Record MakeErrorRecord(const std::string& file, const std::string& message, int exit_code);

// "summary" or "error": the record that completes a file.
bool IsTerminalRecord(const Record& record);

enum class RecordFormat { kJsonLines, kCsv };
template <>
struct EnumNames<RecordFormat> {
  static constexpr std::array kValues{std::pair{RecordFormat::kJsonLines, std::string_view{"jsonl"}},
                                      std::pair{RecordFormat::kCsv, std::string_view{"csv"}}};
};

// Column sets of the batch commands' CSV output.
// ("warning": the summary of a truncated file says what could not be read.)
inline const std::vector<std::string> kSpotCsvColumns{"type",       "file", "keyword", "start_s", "end_s",    "score",
                                                      "duration_s", "hits", "warning", "error",   "exit_code"};
inline const std::vector<std::string> kTranscribeCsvColumns{"type",       "file",    "text",  "confidence", "tokens",
                                                            "duration_s", "warning", "error", "exit_code"};

// One record as a JSON line (canonical key order, no line end; invalid UTF-8 bytes written as U+FFFD).
std::string JsonLine(const Record& record);
// One record as a CSV row (no line end) / a header row.
std::string CsvRow(const Record& record, const std::vector<std::string>& columns);
std::string CsvHeader(const std::vector<std::string>& columns);
// Splits CSV text into rows of cells (RFC 4180 quoting, embedded line ends allowed). A last row that is not
// ended by a line end (a cut write) is dropped and reported through `dropped_tail`.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text, bool* dropped_tail = nullptr);

struct RecordWriterOptions {
  std::string path;  // "" or "-": standard output
  RecordFormat format = RecordFormat::kJsonLines;
  std::vector<std::string> csv_columns = kSpotCsvColumns;
  bool resume = false;
  double fsync_interval_s = 1.0;  // at most this much of the output is lost to a power cut
};

// What --resume found in the previous output.
struct ResumeInfo {
  std::string source;            // the file read ("" when none existed)
  int64_t complete_files = 0;    // files with their summary or error record, kept
  int64_t failed_files = 0;      // of those, with an error record
  int64_t dropped_records = 0;   // records of files left incomplete (redone)
  int64_t dropped_lines = 0;     // unparseable lines (a cut last line)
};

class RecordWriter {
 public:
  explicit RecordWriter(RecordWriterOptions options);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  const RecordWriterOptions& Options() const { return options_; }
  bool ToStdout() const { return fd_ < 0; }
  const ResumeInfo& Resumed() const { return resumed_; }
  // True when `file` already has its summary or error record (from the resumed output or this run).
  // (JSON lines compare names as they read back: invalid UTF-8 bytes become U+FFFD.)
  bool IsComplete(const std::string& file) const;

  // Writes the records of one input file (normally ending with its summary or error record).
  void WriteFile(const std::vector<Record>& records);
  // Flushes, fsyncs and renames PATH.partial to PATH. Further writes are refused.
  void Finish();

  // The exit code of the first error record written or resumed (0 when none), in output order.
  int FirstErrorExitCode() const { return first_error_exit_code_; }
  int64_t FilesWritten() const { return files_written_; }

 private:
  void OpenPartial();
  void ResumeFrom(const std::string& source);
  void WriteText(const std::string& text);
  void Track(const Record& record);
  std::string Format(const Record& record) const;

  RecordWriterOptions options_;
  std::string partial_path_;
  int fd_ = -1;
  bool finished_ = false;
  bool has_results_ = false;  // PATH.partial holds records worth resuming
  std::set<std::string> complete_;
  ResumeInfo resumed_;
  int first_error_exit_code_ = 0;
  int64_t files_written_ = 0;
  double last_sync_s_ = 0.0;
};

}  // namespace ossicle
