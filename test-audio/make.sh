#!/usr/bin/env bash
# Regenerates every audio file in test-audio/, plus manifest.tsv and README.md, from scratch.
#
# Needs (Debian/Ubuntu packages): espeak-ng sox libsox-fmt-all
#   apt-get install espeak-ng sox libsox-fmt-all
#
# Base clips: espeak-ng speech (22050 Hz) -> leading/trailing silence trimmed -> 16 kHz -> peak -3 dBFS ->
# 16-bit PCM -> 0.3 s of digital silence padded before and after. Variants (other rates, channel counts,
# encodings, containers) are made from base clips with sox. The output is deterministic: no dither (-D),
# sox's repeatable mode (-R: fixed seeds and time stamps), and espeak-ng has no randomness; running this
# twice gives byte-identical files with the same tool versions (other versions may differ in the bytes).
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
readonly kPadS=0.3          # silence before and after the speech, seconds
readonly kBaseRateHz=16000
readonly kPeakDb=-3         # peak level after normalisation, dBFS

# ---------------------------------------------------------------------------------------------------------
# Tools.
missing=()
for tool in espeak-ng sox soxi awk od; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "error: missing tools: ${missing[*]}" >&2
  echo "       install the Debian packages: apt-get install espeak-ng sox libsox-fmt-all" >&2
  exit 1
fi
sox_formats="$(sox -h 2>&1 | sed -n 's/^AUDIO FILE FORMATS: //p')"
for fmt in wav flac ogg aiff; do
  if [[ " $sox_formats " != *" $fmt "* ]]; then
    echo "error: this sox cannot write '$fmt' files" >&2
    echo "       install the Debian package: apt-get install libsox-fmt-all" >&2
    exit 1
  fi
done

espeak_version="$(espeak-ng --version | head -n 1)"
sox_version="$(sox --version | sed 's/^sox: *//')"
echo "using: $espeak_version"
echo "using: $sox_version"

# sox with no dither and fixed seeds/time stamps, warnings shown.
sx() { sox -R -D -V2 "$@"; }

# ---------------------------------------------------------------------------------------------------------
# Start from scratch.
echo "removing old generated files from $here"
rm -f "$here"/*.wav "$here"/*.flac "$here"/*.ogg "$here"/*.aiff "$here/manifest.tsv" "$here/README.md"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

manifest="$here/manifest.tsv"
printf 'path\ttext\tvoice\tsample_rate_hz\tchannels\tencoding\tduration_s\tspeech_start_s\tspeech_end_s\n' \
  >"$manifest"

# README rows, written at the end.
readme_rows=()

# Per-base-clip facts, keyed by the base clip's stem, for the variants.
declare -A text_of voice_of wpm_of speech_end_of

# Appends one manifest row for $1 (file name in test-audio/), the rest as in the header. The duration is
# measured on the final file; rate and channels are read back from it, so the manifest says what is there.
add_row() {
  local file="$1" stem="$2" encoding="$3" note="$4"
  local rate channels duration
  rate="$(soxi -r "$here/$file")"
  channels="$(soxi -c "$here/$file")"
  duration="$(printf '%.3f' "$(soxi -D "$here/$file")")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$file" "${text_of[$stem]}" "${voice_of[$stem]}" \
    "$rate" "$channels" "$encoding" "$duration" "$(printf '%.3f' "$kPadS")" "${speech_end_of[$stem]}" \
    >>"$manifest"
  local row
  # shellcheck disable=SC2016  # the backticks are Markdown
  printf -v row '| `%s` | %s | `%s` | %s | %s | %s | %s | %s | %.3f–%s | %s |' "$file" "${text_of[$stem]}" \
    "${voice_of[$stem]}" "${wpm_of[$stem]}" "$rate" "$channels" "$encoding" "$duration" "$kPadS" \
    "${speech_end_of[$stem]}" "$note"
  readme_rows+=("$row")
}

# Describes a WAV file's chunks, e.g. "fmt (16 bytes, tag 1 = PCM), data (34876 bytes)", so the README
# says which header layouts the tests exercise. Walks the RIFF chunks with od; sizes are padded to even.
wav_chunks() {
  local f="$1" size offset=12 id len tag out=()
  size="$(stat -c %s "$f")"
  while ((offset + 8 <= size)); do
    id="$(od -An -c -j "$offset" -N 4 "$f" | tr -d ' ')"
    len="$(od -An -tu4 -j $((offset + 4)) -N 4 "$f" | tr -d ' ')"
    if [[ "$id" == "fmt" ]]; then
      tag="$(od -An -tu2 -j $((offset + 8)) -N 2 "$f" | tr -d ' ')"
      case "$tag" in
        1) tag="1 = PCM" ;;
        3) tag="3 = IEEE float" ;;
        65534) tag="0xFFFE = EXTENSIBLE" ;;
      esac
      out+=("fmt ($len bytes, tag $tag)")
    else
      out+=("$id ($len bytes)")
    fi
    if ((len % 2 == 1 && offset + 8 + len == size)); then
      out[-1]+=" [odd size, no pad byte at end of file]"
    fi
    offset=$((offset + 8 + len + len % 2))
  done
  local joined
  printf -v joined '%s, ' "${out[@]}"
  printf '%s' "${joined%, }"
}

# make_base TEXT VOICE WPM: writes <text>_<voice>_16k.wav (16 kHz mono 16-bit PCM).
make_base() {
  local text="$1" voice="$2" wpm="$3"
  local stem
  # "go left" + "en+f3" -> "go-left_en-f3"
  stem="$(printf '%s' "$text" | tr ' ' '-')_$(printf '%s' "$voice" | tr '+' '-')"
  local file="${stem}_16k.wav"
  echo "base:    $file  ('$text', voice $voice, $wpm wpm)"

  espeak-ng -v "$voice" -s "$wpm" -w "$tmp/$stem.espeak.wav" "$text"
  # espeak-ng ends every utterance with ~0.3 s of digital silence (and may start with a little): trim
  # both ends at -60 dBFS so the speech boundaries are known exactly, then resample and normalise.
  sx "$tmp/$stem.espeak.wav" -b 16 -e signed-integer "$tmp/$stem.speech.wav" \
    silence 1 1s -60d reverse silence 1 1s -60d reverse \
    rate -v "$kBaseRateHz" gain -n "$kPeakDb"
  local speech_s
  speech_s="$(soxi -D "$tmp/$stem.speech.wav")"
  sx "$tmp/$stem.speech.wav" "$here/$file" pad "$kPadS" "$kPadS"

  text_of[$stem]="$text"
  voice_of[$stem]="$voice"
  wpm_of[$stem]="$wpm"
  speech_end_of[$stem]="$(awk -v a="$kPadS" -v b="$speech_s" 'BEGIN { printf "%.3f", a + b }')"
  add_row "$file" "$stem" pcm_s16le "base clip"
}

# make_variant STEM OUT-FILE ENCODING NOTE -- SOX-OUTPUT-OPTIONS... [-- SOX-EFFECTS...]
make_variant() {
  local stem="$1" file="$2" encoding="$3" note="$4"
  shift 4
  [[ "$1" == "--" ]] && shift
  local out_opts=() effects=()
  while (($#)) && [[ "$1" != "--" ]]; do out_opts+=("$1"); shift; done
  (($#)) && shift
  effects=("$@")
  echo "variant: $file  (from ${stem}_16k.wav: $note)"
  sx "$here/${stem}_16k.wav" "${out_opts[@]}" "$here/$file" "${effects[@]}"
  add_row "$file" "$stem" "$encoding" "$note"
}

# ---------------------------------------------------------------------------------------------------------
# Base clips: command words and digit sequences, several voices and speaking rates (espeak-ng's default is
# 175 words per minute). Voice "en" is the same voice file as "en-gb" (gmw/en); "en+f3" is that voice
# with espeak-ng's female variant f3.
make_base "yes"                "en-us"          130
make_base "yes"                "en+f3"          120
make_base "no"                 "en-gb-x-rp"     130
make_base "stop"               "en"             120
make_base "go left"            "en-us"          175
make_base "seven two"          "en-029"         190
make_base "three one four"     "en-gb"          160
make_base "five zero nine two" "en-gb-scotland" 130

# ---------------------------------------------------------------------------------------------------------
# Variants. "rate -v" is sox's very-high-quality resampler. The speech keeps its times to within ~1 ms
# (the resampling filters) or ~10 ms (Ogg Vorbis), so the manifest repeats the base clip's times.
make_variant stop_en stop_en_8k.wav pcm_s16le "resampled to 8 kHz" \
  -- -b 16 -e signed-integer -- rate -v 8000
make_variant yes_en-us yes_en-us_48k.wav pcm_s16le "resampled to 48 kHz" \
  -- -b 16 -e signed-integer -- rate -v 48000
# Stereo with unequal channels, so a reader that takes only one channel or averages them can be told
# apart: left = the clip, right = the clip at half amplitude (-6.02 dB).
make_variant three-one-four_en-gb three-one-four_en-gb_44k1_stereo.wav pcm_s16le \
  "44.1 kHz stereo; left = clip, right = clip x 0.5 (-6.02 dB)" \
  -- -b 16 -e signed-integer -- remix 1 1v0.5 rate -v 44100
make_variant stop_en stop_en_16k_float32.wav pcm_f32le "32-bit IEEE float WAV" \
  -- -b 32 -e floating-point
make_variant stop_en stop_en_16k_s24.wav pcm_s24le "24-bit PCM WAV" \
  -- -b 24 -e signed-integer
make_variant stop_en stop_en_16k_u8.wav pcm_u8 "8-bit unsigned PCM WAV (rounded, no dither)" \
  -- -b 8 -e unsigned-integer
make_variant stop_en stop_en_16k.flac flac "FLAC, 16-bit, lossless" \
  -- -b 16 -C 8
make_variant stop_en stop_en_16k.ogg vorbis "Ogg Vorbis, lossy (quality 3)" \
  -- -C 3
make_variant stop_en stop_en_16k.aiff pcm_s16be "AIFF, 16-bit big-endian PCM" \
  -- -b 16 -e signed-integer

# ---------------------------------------------------------------------------------------------------------
# README.md (generated, so the table cannot drift from the files).
echo "writing README.md"
dpkg_versions=""
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg_versions="$(dpkg-query -W -f='${Package} ${Version}\n' espeak-ng espeak-ng-data sox libsox3 \
    libsox-fmt-all 2>/dev/null | sed 's/^/    /' || true)"
fi
{
  cat <<'EOF'
# test-audio

Small audio files for ossicle's end-to-end tests and for trying the `ossicle` command by hand. The tests
run the real binary on these files and compare what it prints with `manifest.tsv`.

**The speech is synthetic.** It was made with the espeak-ng speech synthesizer (GPL-3.0-or-later); it is
not a recording of a person. The files are committed so that tests do not need espeak-ng (or sox) at test
time.

This README, `manifest.tsv` and every audio file are generated by `make.sh`; do not edit them by hand.

## Regenerate

    test-audio/make.sh

The script checks for its tools at the top (Debian packages `espeak-ng`, `sox`, `libsox-fmt-all`), deletes
the generated files and writes them again. With the same tool versions it is byte-for-byte repeatable:
sox runs with `-D` (no dither) and `-R` (fixed random seeds and time stamps), and espeak-ng has no
randomness. Other versions of the tools may give slightly different samples.

## How the files are made

Base clips (`*_16k.wav`, encoding `pcm_s16le`):

1. `espeak-ng -v VOICE -s WPM -w out.wav "TEXT"` (22050 Hz, 16-bit mono).
2. Trim espeak-ng's own leading and trailing silence at -60 dBFS (`silence 1 1s -60d reverse ...`), so
   the speech fills the clip exactly; resample to 16 kHz (`rate -v`); normalise the peak to -3 dBFS
   (`gain -n -3`); write 16-bit PCM without dither.
3. Pad 0.3 s of digital silence before and after (`pad 0.3 0.3`).

So in every file the speech starts at `speech_start_s` = 0.300 s and ends at `speech_end_s` = 0.300 +
the length of the trimmed speech (measured with `soxi -D` before padding). Variants are made from a base
clip with sox and keep these times, except that the resampling filters and the lossy Vorbis codec smear
the edges a little: measured at -60 dBFS, the resampled files move by at most 1 ms and the Ogg file
starts about 9 ms early and ends about 5 ms late (its peak is also about -2.6 dBFS, not -3). Tests should
allow at least 20 ms around the speech times.

Variants: other sample rates (8, 44.1, 48 kHz), stereo, and other encodings and containers. In the stereo
file the left channel is the clip and the right channel is the clip at half amplitude (-6.02 dB), so a
reader that takes one channel and one that averages the channels give different, predictable results.

## Files

`enc` uses ffmpeg's codec names: `pcm_s16le`, `pcm_s24le`, `pcm_u8`, `pcm_f32le` (WAV), `pcm_s16be`
(AIFF), `flac` (16-bit), `vorbis` (Ogg, lossy). `wpm` is espeak-ng's speaking rate (words per minute;
its default is 175). Voice `en` is the same voice file as `en-gb`; `en+f3` is it with the female variant
`f3`. Times are seconds.

| file | text | voice | wpm | rate (Hz) | ch | enc | duration | speech | note |
|---|---|---|---|---|---|---|---|---|---|
EOF
  printf '%s\n' "${readme_rows[@]}"
  cat <<EOF

## WAV headers

What sox wrote into each WAV file (RIFF chunks in file order). A reader must skip chunks it does not
know, and must accept WAVE_FORMAT_EXTENSIBLE: sox writes the 24-bit file that way.

EOF
  for f in "$here"/*.wav; do
    # shellcheck disable=SC2016  # the backticks are Markdown
    printf -- '- `%s`: %s\n' "$(basename "$f")" "$(wav_chunks "$f")"
  done
  cat <<EOF

## manifest.tsv

One row per audio file, tab-separated, with a header:

| column | meaning |
|---|---|
| \`path\` | file name, relative to \`test-audio/\` |
| \`text\` | what is said (lower case, words separated by single spaces) |
| \`voice\` | the espeak-ng voice (\`-v\`) |
| \`sample_rate_hz\` | sample rate of the file (read back with \`soxi -r\`) |
| \`channels\` | channel count (read back with \`soxi -c\`) |
| \`encoding\` | sample encoding, ffmpeg codec names (see above) |
| \`duration_s\` | length of the file (\`soxi -D\`), 3 decimals |
| \`speech_start_s\` | where the speech starts (end of the leading silence), 3 decimals |
| \`speech_end_s\` | where the speech ends (start of the trailing silence), 3 decimals |

## Tools used

    $espeak_version
    sox: $sox_version
EOF
  if [[ -n "$dpkg_versions" ]]; then
    printf '\nDebian packages:\n\n%s\n' "$dpkg_versions"
  fi
} >"$here/README.md"

# ---------------------------------------------------------------------------------------------------------
echo "wrote $(($(wc -l <"$manifest") - 1)) audio files, manifest.tsv and README.md:"
(cd "$here" && du -ch -- *.wav *.flac *.ogg *.aiff manifest.tsv README.md | tail -n 1)
