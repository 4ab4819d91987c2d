// One detected keyword: what every keyword spotter (KwsDecoder, CtcKeywordSpotter) emits.
//
// Times are seconds in the timeline of the input the decoder was fed: frame f (absolute index since the
// decoder's last Reset()) covers [f * frame_shift_s, (f + 1) * frame_shift_s). A caller whose frames are
// offset from the audio (a features front end that centres frames, a segment that starts later) adds its
// own offset.
#pragma once

#include <string>

namespace ossicle {

struct KeywordHit {
  std::string keyword;  // the keyword's name as configured (a label name, or the keyword text)
  double start_s = 0.0;  // start of the keyword's span, seconds
  double end_s = 0.0;    // end of the span, seconds (> start_s)
  double score = 0.0;    // the decoder's confidence in [0, 1]; compared with the threshold
};

}  // namespace ossicle
