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
#pragma once

#include <array>
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

}  // namespace ossicle
