// The speech synthesis engines behind SpeechSynthesizer (pipeline/speech-synth.h), one file each.
// Internal to the pipeline library: use MakeSpeechSynthesizer().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/speech-synth.h"

namespace ossicle {

// "" when the engine can be used here, else why not (naming the Debian package to install).
std::string EspeakUnavailableReason();
std::string FliteUnavailableReason();
std::string FestivalUnavailableReason();

// Only called when the reason above is "".
std::unique_ptr<SpeechSynthesizer> MakeEspeakSynthesizer();
std::unique_ptr<SpeechSynthesizer> MakeFliteSynthesizer();
std::unique_ptr<SpeechSynthesizer> MakeFestivalSynthesizer();

// Checks shared by every engine: text not empty and without NUL, rate and pitch in [0.25, 4], voice one
// of `voices`. Throws ConfigError naming the engine and the value.
void CheckSynthesisRequest(const std::string& engine, const std::vector<std::string>& voices,
                           const std::string& text, const std::string& voice, double rate, double pitch);

}  // namespace ossicle
