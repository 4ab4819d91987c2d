// ossicle phrases CONFIG.yaml --out DIR — writes short continuous phrases composed from isolated-word clips
// (pipeline/phrase-composer.h): DIR/wav/NNNNNN.wav and DIR/manifest.tsv (path, transcript, duration_s,
// origins), the data of the phrase transcriber (configs/phrases/, docs/training.md).
#include <fmt/core.h>

#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "pipeline/phrase-composer.h"

namespace ossicle {

CommandRunner AddPhrasesCommand(CLI::App& app) {
  struct Options {
    std::string config;
    std::string out;
    std::vector<std::string> overrides;
    int threads = 2;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "phrases", "Compose phrases of several words from isolated-word clips: WAV files and a manifest with transcripts");
  cmd->add_option("config", opt->config, "Phrase configuration (YAML, see configs/phrases/)")->required();
  cmd->add_option("--out", opt->out, "Output folder (created if needed)")->required();
  AddSetOption(*cmd, opt->overrides, "Override a key: --set num_phrases=100");
  cmd->add_option("--threads", opt->threads, "Threads for speech synthesis")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));

  return [opt]() {
    const PhraseComposerConfig config = LoadPhraseComposerConfig(opt->config, opt->overrides);
    const PhraseComposer composer(config, opt->threads);
    const std::string manifest = WritePhrases(composer, opt->out);
    fmt::print("{}: {} phrases of {}-{} words from {} clips of {} words\n", manifest, config.num_phrases,
               config.min_words, config.max_words, composer.NumClips(), config.vocabulary.size());
    return static_cast<int>(kExitOk);
  };
}

}  // namespace ossicle
