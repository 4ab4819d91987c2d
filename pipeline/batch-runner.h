// Runs one job per input file on a pool of worker threads and writes every file's records, in input
// order, through a RecordWriter.
//
//   auto make_job = [&] {                       // called once per worker, before any file is run
//     return [](const std::string& file, ossicle::RecordSink& sink) {
//       ... sink.Add(ossicle::MakeHitRecord(file, "yes", 0.31, 0.82, 0.97)); ...
//       sink.Add(ossicle::MakeSummaryRecord(file, 1.2, 1));
//     };
//   };
//   ossicle::BatchResult r = ossicle::RunBatch(inputs, make_job, writer, {.jobs = 2}, ExitCodeFor);
//
// Contract:
//   * every input yields its records followed by its summary record, or one error record: an input whose
//     expansion failed (BatchInput::error), or whose job threw, gets
//     {"type":"error","file":F,"error":e.what(),"exit_code":exit_code_for(e)} and the run goes on (the
//     records the job added before throwing are dropped, so a file is reported exactly once); a job that
//     returns without a summary or error record gets {"type":"summary","file":F} appended;
//   * output order = input order, whatever `jobs` is: `jobs` = 2 writes the same bytes as `jobs` = 1
//     when the job is deterministic. Finished files wait (at most `max_buffered_files` of them) for the
//     earlier ones, so memory stays bounded when one file is slow;
//   * inputs the writer already has (RecordWriter::IsComplete, from --resume) are skipped;
//   * a failing file also prints "error: <message>" on `message_stream`; a progress bar is drawn there
//     (see ProgressBar, ProgressMode::kAuto = only on a terminal);
//   * a writer failure (IoError: disk full) stops the run: workers finish their current file, nothing more
//     is written, and the exception propagates (the writer keeps PATH.partial for --resume). So does an
//     exception from `make_job` (thrown before any file runs).
// Jobs run concurrently on different threads, one job object per worker: a job may keep per-stream state;
// whatever it shares with other workers (an immutable model) must be safe to read from several threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/batch-inputs.h"
#include "pipeline/progress-bar.h"
#include "pipeline/record-writer.h"

namespace ossicle {

// The records one job produces for one file.
class RecordSink {
 public:
  explicit RecordSink(std::string file) : file_(std::move(file)) {}
  const std::string& File() const { return file_; }
  void Add(Record record) { records_.push_back(std::move(record)); }
  const std::vector<Record>& Records() const { return records_; }
  std::vector<Record>& Records() { return records_; }

 private:
  std::string file_;
  std::vector<Record> records_;
};

using BatchJob = std::function<void(const std::string& file, RecordSink& sink)>;
using BatchJobFactory = std::function<BatchJob()>;
// The exit code an error record carries for an exception (the app passes its documented mapping).
using ExitCodeClassifier = std::function<int(const std::exception&)>;

inline constexpr int kMaxBatchJobs = 256;

struct BatchRunnerConfig {
  int jobs = 1;                                // worker threads, 1 to kMaxBatchJobs
  ProgressMode progress = ProgressMode::kAuto;
  std::FILE* message_stream = stderr;          // error lines and the progress bar; nullptr: silent
  int max_buffered_files = 0;                  // finished files waiting for an earlier one; 0: 4 x jobs
  // Fields set on every file's last record (its summary or error record), e.g. {"shard": "2/4"}: error records
  // made by the runner carry them as well as the job's summaries.
  Record terminal_fields = Record::object();

  // ConfigError "jobs = 0; expected between 1 and 256" (and for max_buffered_files < 0).
  void Validate() const;
};

struct BatchResult {
  int64_t inputs = 0;     // entries in the input list
  int64_t skipped = 0;    // already complete in the resumed output
  int64_t processed = 0;  // run by this call (succeeded + failed)
  int64_t failed = 0;     // of those, reported with an error record
  // The exit code of the first error record in the whole output (resumed records included), 0 when none.
  int exit_code = 0;
};

BatchResult RunBatch(const std::vector<BatchInput>& inputs, const BatchJobFactory& make_job, RecordWriter& writer,
                     const BatchRunnerConfig& config, const ExitCodeClassifier& exit_code_for);

}  // namespace ossicle
