// The command-line inputs of a batch command (files, folders, glob patterns) as a list of files.
//
//   std::vector<ossicle::BatchInput> inputs = ossicle::ExpandBatchInputs({"a.wav", "corpus/", "takes/*.flac"});
//   for (const auto& in : inputs) if (!in.Ok()) ... in.error ...
//
// Each argument, in command-line order, becomes:
//   * an existing file (or anything that is not a folder: a FIFO, a device): itself, whatever its name —
//     the user named it, so a non-audio file gets its error from the audio reader, not silence;
//   * an existing folder: every audio file below it (recursively; names with an audio extension, any case,
//     see kAudioExtensions; names starting with '.' skipped, symbolic links to folders not followed, so a
//     link cycle cannot loop), sorted by path (component by component);
//   * a glob pattern, when it contains '*', '?' or '[' and is not itself an existing path: the matches,
//     sorted. '*', '?', '[...]' match within one path component (fnmatch(3); a leading '.' must be matched
//     explicitly), and a component "**" matches zero or more folders ("corpus/**/*.wav"). A folder that
//     matches is expanded like a folder argument; a file that matches is taken whatever its extension.
// A file reached twice (the same file named directly and through its folder, or through two spellings) is
// kept once, where it first appears. Paths keep the spelling of the argument ("corpus/a/x.wav").
//
// An argument that yields no file becomes one entry with `error` set, so a batch reports it in its place
// and goes on (a mistyped folder must not pass silently):
//   "<arg>: cannot open: No such file or directory"
//   "<pattern>: no file matches this pattern"
//   "<dir>: no audio files in this folder or below (extensions: wav, flac, ...)"
//   "<dir>: cannot list folder: Permission denied"        (also for an unreadable sub-folder)
// These are audio-input errors (the batch commands report them with the AudioError exit code).
//
// Shards (`--shard K/N`, docs/scale-out.md): N independent runs over the same arguments each take a
// deterministic, disjoint part of the expanded list, and together take all of it (error entries included,
// so a mistyped argument is reported by exactly one shard):
//
//   ossicle::Shard shard = ossicle::ParseShard("2/4");              // or ShardFromEnvironment(...)
//   std::vector<ossicle::BatchInput> mine = ossicle::SelectShard(ossicle::ExpandBatchInputs(args), shard);
//
//   * ShardBy::kOrder: shard K of N takes the K-th of N contiguous blocks of the list, entries
//     [floor((K-1) M / N), floor(K M / N)) of M (block sizes differ by at most one; like Kaldi's
//     split_scp.pl or `split -n l/K/N`). Concatenating the shards' outputs 1..N gives the unsharded order.
//   * ShardBy::kHash: an entry belongs to shard 1 + ShardHash(path) mod N, whatever else is in the list:
//     a file stays in its shard when files are added or removed. ShardHash is FNV-1a (64 bit) of the
//     path's bytes as spelled in the list, then the splitmix64 finaliser (FNV's low bits alone are poorly
//     mixed for a modulus); it is the same on every machine and every run.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ossicle {

// File name extensions taken from folders (lower case, without the dot): what libsndfile 1.2 decodes.
inline constexpr std::array<std::string_view, 15> kAudioExtensions{
    "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "caf", "w64", "rf64", "au", "snd"};

struct BatchInput {
  std::string path;   // the file, or the argument that produced `error`
  std::string error;  // empty for a file to process

  bool Ok() const { return error.empty(); }
  bool operator==(const BatchInput&) const = default;
};

// Expands `args` as described above. Never throws for a bad argument (see `error`); throws only for
// an internal failure (std::bad_alloc).
std::vector<BatchInput> ExpandBatchInputs(const std::vector<std::string>& args);

// True when `name`'s extension is one of kAudioExtensions (case-insensitive).
bool HasAudioExtension(std::string_view name);

// True when `arg` contains a glob metacharacter ('*', '?', '[').
bool IsGlobPattern(std::string_view arg);

// ---- shards

enum class ShardBy { kOrder, kHash };

inline constexpr int64_t kMaxShards = 1000000;

struct Shard {
  int64_t index = 1;  // K, 1 to count
  int64_t count = 1;  // N, 1 to kMaxShards
  ShardBy by = ShardBy::kOrder;
  std::string origin;  // where K/N came from, for messages: "--shard 2/4", "SLURM_ARRAY_TASK_ID=5 (...)"

  std::string Name() const;  // "2/4"
};

// "K/N" (decimal, 1 <= K <= N <= kMaxShards). ConfigError naming `option` and the rule otherwise:
// "--shard '5/4': expected K/N with 1 <= K <= N (shard K of N), e.g. 1/4".
Shard ParseShard(std::string_view text, std::string_view option = "--shard");

// The value of an environment variable, or nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
// Looks the variables up with getenv(3).
EnvironmentLookup ProcessEnvironment();

// The shard a job-array task runs (`--shard auto`), from the environment:
//   * a Slurm job array (SLURM_ARRAY_TASK_ID set): K = 1 + (ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP
//     (step 1 when unset), N = SLURM_ARRAY_TASK_COUNT, so `--array=0-3`, `--array=1-4` and `--array=0-30:10`
//     all give shards 1/4 to 4/4. An array with gaps (`--array=1,3,8`: SLURM_ARRAY_TASK_MAX does not match
//     MIN + STEP (COUNT - 1)) is refused: its tasks would not cover every shard. `count`, when given, must
//     equal SLURM_ARRAY_TASK_COUNT;
//   * else a Kubernetes indexed Job (JOB_COMPLETION_INDEX set, 0-based): K = index + 1, N = `count` (the Job's
//     completions; Kubernetes does not export it, so it is required);
//   * else ConfigError (no job array).
// ConfigError names the variable and its value for anything unusable (not a non-negative integer, an index
// outside the array, a missing SLURM_ARRAY_TASK_COUNT / SLURM_ARRAY_TASK_MIN).
Shard ShardFromEnvironment(const EnvironmentLookup& env, std::optional<int64_t> count, std::string_view option = "--shard auto");

// The stable hash of ShardBy::kHash (see above).
uint64_t ShardHash(std::string_view path);

// The entries of `inputs` that belong to `shard`, in their order. ConfigError for an invalid shard.
std::vector<BatchInput> SelectShard(const std::vector<BatchInput>& inputs, const Shard& shard);

}  // namespace ossicle
