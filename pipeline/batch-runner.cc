#include "pipeline/batch-runner.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "features/config-fields.h"
#include "features/errors.h"

namespace ossicle {

void BatchRunnerConfig::Validate() const {
  if (jobs < 1 || jobs > kMaxBatchJobs) {
    throw ConfigError(RuleMessage("", "jobs", jobs, "between 1 and " + std::to_string(kMaxBatchJobs)));
  }
  if (max_buffered_files < 0) throw ConfigError(RuleMessage("", "max_buffered_files", max_buffered_files, ">= 0"));
}

namespace {

// Runs `job` on one file: its records, or one error record.
std::vector<Record> RunOne(const BatchInput& input, const BatchJob& job, const ExitCodeClassifier& exit_code_for) {
  auto error_record = [&](const std::exception& e) {
    return std::vector<Record>{MakeErrorRecord(input.path, e.what(), exit_code_for ? exit_code_for(e) : 1)};
  };
  if (!input.Ok()) return error_record(AudioError(input.error));
  RecordSink sink(input.path);
  try {
    job(input.path, sink);
  } catch (const std::exception& e) {
    return error_record(e);
  } catch (...) {
    return error_record(std::runtime_error(input.path + ": unknown exception"));
  }
  std::vector<Record>& records = sink.Records();
  if (records.empty() || !IsTerminalRecord(records.back())) {
    Record summary;
    summary["type"] = "summary";
    summary["file"] = input.path;
    records.push_back(std::move(summary));
  }
  return std::move(records);
}

}  // namespace

BatchResult RunBatch(const std::vector<BatchInput>& inputs, const BatchJobFactory& make_job, RecordWriter& writer,
                     const BatchRunnerConfig& config, const ExitCodeClassifier& exit_code_for) {
  config.Validate();
  BatchResult result;
  result.inputs = static_cast<int64_t>(inputs.size());
  std::vector<const BatchInput*> todo;
  for (const BatchInput& input : inputs) {
    if (input.Ok() && writer.IsComplete(input.path)) {
      ++result.skipped;
    } else {
      todo.push_back(&input);
    }
  }
  const size_t n = todo.size();
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(config.jobs), std::max<size_t>(n, 1)));
  std::vector<BatchJob> jobs;
  for (int w = 0; w < workers; ++w) jobs.push_back(make_job());

  ProgressBar progress(static_cast<int64_t>(n), "files", config.progress, config.message_stream);
  const size_t window = config.max_buffered_files > 0 ? static_cast<size_t>(config.max_buffered_files)
                                                      : static_cast<size_t>(4 * config.jobs);

  std::mutex mutex;
  std::condition_variable work_cv, done_cv;
  std::vector<std::optional<std::vector<Record>>> slots(n);
  size_t next_to_take = 0, next_to_write = 0;
  bool stop = false;

  auto worker = [&](const BatchJob& job) {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(mutex);
        work_cv.wait(lock, [&] { return stop || next_to_take >= n || next_to_take < next_to_write + window; });
        if (stop || next_to_take >= n) return;
        i = next_to_take++;
      }
      std::vector<Record> records = RunOne(*todo[i], job, exit_code_for);
      {
        std::lock_guard lock(mutex);
        slots[i] = std::move(records);
      }
      done_cv.notify_one();
    }
  };
  std::vector<std::thread> threads;
  for (const BatchJob& job : jobs) threads.emplace_back(worker, std::cref(job));
  auto stop_and_join = [&] {
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    work_cv.notify_all();
    for (std::thread& t : threads) t.join();
    threads.clear();
  };

  try {
    while (next_to_write < n) {
      std::vector<Record> records;
      {
        std::unique_lock lock(mutex);
        done_cv.wait(lock, [&] { return slots[next_to_write].has_value(); });
        records = std::move(*slots[next_to_write]);
        slots[next_to_write].reset();
      }
      if (!records.empty() && !config.terminal_fields.empty()) {
        for (const auto& [key, value] : config.terminal_fields.items()) records.back()[key] = value;
      }
      writer.WriteFile(records);
      ++result.processed;
      if (!records.empty() && records.back()["type"] == "error") {
        ++result.failed;
        if (config.message_stream != nullptr) progress.Print("error: " + records.back()["error"].get<std::string>());
      }
      {
        std::lock_guard lock(mutex);
        ++next_to_write;
      }
      work_cv.notify_all();
      progress.Update(result.processed, result.failed);
    }
  } catch (...) {
    stop_and_join();
    throw;
  }
  stop_and_join();
  progress.Finish();
  result.exit_code = writer.FirstErrorExitCode();
  return result;
}

}  // namespace ossicle
