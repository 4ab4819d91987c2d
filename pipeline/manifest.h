// Training manifests: a TSV file with a header line naming its columns, one example per line.
//
//   path                  label  transcript  speaker  duration_s
//   train/0_george_0.flac 0      zero        george   0.2980
//
//   ossicle::ManifestColumns columns;            // path column "path"
//   columns.label = "label";                     // which column holds the class label (optional)
//   columns.transcript = "transcript";           // which column holds the transcript (optional)
//   std::vector<ossicle::ManifestEntry> e = ossicle::ReadManifest("fsdd/train.tsv", columns);
//
// Format: UTF-8 text, fields separated by one TAB, lines ended by LF or CRLF. The first line is the header
// (column names, unique and non-empty). Every other line must have exactly as many fields as the header;
// an empty field is an empty string (e.g. a blank speaker id). Blank lines and lines starting with '#' are
// skipped. Other columns than the configured ones are allowed and ignored. Audio paths are relative to the
// manifest's folder unless absolute; ManifestEntry::audio_path holds the resolved path.
//
// Errors (ConfigError for a configured column the header lacks, IoError otherwise), every message starts
// with "<file>:<line>:" and names the column where one is involved:
//   "<file>: cannot open manifest: No such file or directory"
//   "<file>:1: manifest has no header line; expected column names separated by tabs"
//   "<file>:1: manifest.columns.label = 'lable': no such column; the header has path, label, transcript"
//   "<file>:1: duplicate column 'path' (columns 1 and 4)"
//   "<file>:7: 3 fields; expected 5 as in the header (path, label, transcript, speaker, duration_s)"
//   "<file>:7: column 'path' is empty; expected an audio file path"
//   "<file>:7: column 'duration_s' = 'abc'; expected a number of seconds >= 0"
//   "<file>:7: audio file 'dev/x.flac' (resolved to '/data/fsdd/dev/x.flac') does not exist"   (check_files)
//   "<file>: manifest has a header but no entries"
//   "<file>:7: line longer than 1048576 bytes (limit manifest max_line_bytes); not a manifest?"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

// Which columns of a manifest hold what. An empty name means the manifest has no such column.
struct ManifestColumns {
  std::string path = "path";  // audio file path, relative to the manifest's folder
  std::string label;          // class label (e.g. "label" or "keyword")
  std::string transcript;     // text spoken (e.g. "transcript" or "word")
  std::string duration;       // duration in seconds (e.g. "duration_s"); saves probing every file

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"path", "", "column holding the audio path (relative to the manifest's folder)"}, self.path);
    v(FieldInfo{"label", "", "column holding the class label (empty = none)"}, self.label);
    v(FieldInfo{"transcript", "", "column holding the transcript (empty = none)"}, self.transcript);
    v(FieldInfo{"duration", "", "column holding the duration in seconds (empty = probe the audio file)"},
      self.duration);
  }

  // Throws ConfigError ("manifest.columns.path = ""; expected a column name") when path is empty.
  void Validate(std::string_view key_path = "manifest.columns") const;
};

struct ManifestEntry {
  std::string audio_path;   // resolved against the manifest's folder (absolute paths kept)
  std::string written_path; // the path column as written in the manifest (what reports show)
  std::string label;        // "" when no label column is configured
  std::string transcript;   // "" when no transcript column is configured
  double duration_s = -1;   // from the duration column; < 0 when not configured
  int64_t line = 0;         // 1-based line in the manifest (the header is line 1)
};

struct ManifestReadOptions {
  bool check_files = false;  // every audio path must name an existing regular file
  // A longer line is refused ("<file>:<line>: line longer than 1048576 bytes ...", IoError) before it is
  // held in memory: a binary file or a runaway generator given as a manifest cannot exhaust memory.
  int64_t max_line_bytes = int64_t{1} << 20;
};

// Reads the whole manifest. Throws as listed above.
std::vector<ManifestEntry> ReadManifest(const std::string& tsv_path, const ManifestColumns& columns,
                                        const ManifestReadOptions& options = {});

// "<file>:<line>" for messages about an entry.
std::string EntryLocation(const std::string& tsv_path, const ManifestEntry& entry);

}  // namespace ossicle
