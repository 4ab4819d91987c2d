// Mel scales and filterbanks against the numpy reference tests/data/features/numpy_logmel.py (kaldi_melbank,
// slaney_melbank, kaldi_mel, slaney_hz_to_mel, slaney_mel_to_hz), and MelBanksConfig::Validate.
#include "features/mel-banks.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <iomanip>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// Mel values are up to ~3000 and Hz values up to 1e87 (the Slaney scale is exponential): relative 1e-13
// leaves a few ulp for exp/log differences between libm and numpy.
constexpr double kScaleRelTolerance = 1e-13;
// Filter weights are <= 1 (Kaldi) or <= 0.006 (Slaney-normalised); they are ratios of differences of
// mel values ~1e3, so their rounding error is ~1e-13 absolute.
constexpr double kWeightTolerance = 1e-12;
constexpr double kRowSumTolerance = 1e-11;

bool CloseRel(double got, double want, double rel) {
  return std::abs(got - want) <= rel * std::max(1.0, std::abs(want));
}

// Produced by (/usr/bin/python3, numpy 1.24.2):
//   import sys; sys.path.insert(0, "tests/data/features")
//   import numpy as np
//   from numpy_logmel import kaldi_mel, slaney_hz_to_mel, slaney_mel_to_hz
//   freqs = [0.0, 20.0, 440.0, 999.0, 999.9, 1000.0, 1001.0, 4000.0, 8000.0]
//   print([repr(float(kaldi_mel(f))) for f in freqs])
//   print([repr(float(slaney_hz_to_mel(f))) for f in freqs])
//   mels = [0.0, 10.0, 14.999, 15.0, 15.001, 30.0, 100.0, 1000.0, 2840.0]
//   print([repr(float(700.0 * (np.exp(m / 1127.0) - 1.0))) for m in mels])
//   print([repr(float(slaney_mel_to_hz(m))) for m in mels])
TEST_CASE("HzToMel and MelToHz match the numpy formulas for both scales", "[features][mel]") {
  const double freqs[] = {0.0, 20.0, 440.0, 999.0, 999.9, 1000.0, 1001.0, 4000.0, 8000.0};
  const double htk_mel[] = {0.0,
                            31.748578341466644,
                            549.6415135509689,
                            999.3275645303503,
                            999.9244046984669,
                            999.9907007660177,
                            1000.6534470362191,
                            2146.075609141898,
                            2840.0377117383778};
  const double slaney_mel[] = {0.0,
                               0.3,
                               6.6,
                               14.985,
                               14.998499999999998,
                               14.999999999999998,
                               15.014537810811255,
                               35.163760314616646,
                               45.245640471924965};
  static_assert(std::size(freqs) == std::size(htk_mel) && std::size(freqs) == std::size(slaney_mel));
  for (size_t i = 0; i < std::size(freqs); ++i) {
    const double h = HzToMel(freqs[i], MelScale::kHtk);
    const double s = HzToMel(freqs[i], MelScale::kSlaney);
    INFO(std::setprecision(17) << freqs[i] << " Hz: htk expected " << htk_mel[i] << ", got " << h
                               << "; slaney expected " << slaney_mel[i] << ", got " << s);
    CHECK(CloseRel(h, htk_mel[i], kScaleRelTolerance));
    CHECK(CloseRel(s, slaney_mel[i], kScaleRelTolerance));
  }

  const double mels[] = {0.0, 10.0, 14.999, 15.0, 15.001, 30.0, 100.0, 1000.0, 2840.0};
  const double htk_hz[] = {0.0,
                           6.23881806471025,
                           9.37841831395152,
                           9.379047753821123,
                           9.379677194249192,
                           18.883761988739955,
                           64.9507706582787,
                           1000.0140272963549,
                           7999.708884973709};
  const double slaney_hz[] = {0.0,
                              666.6666666666667,
                              999.9333333333334,
                              1000.0000000000002,
                              1000.0687541408786,
                              2804.6441307389214,
                              345123.07093968056,
                              2.574185215316336e+32,
                              2.240330506844839e+87};
  static_assert(std::size(mels) == std::size(htk_hz) && std::size(mels) == std::size(slaney_hz));
  for (size_t i = 0; i < std::size(mels); ++i) {
    const double h = MelToHz(mels[i], MelScale::kHtk);
    const double s = MelToHz(mels[i], MelScale::kSlaney);
    INFO(std::setprecision(17) << mels[i] << " mel: htk expected " << htk_hz[i] << ", got " << h << "; slaney expected "
                               << slaney_hz[i] << ", got " << s);
    CHECK(CloseRel(h, htk_hz[i], kScaleRelTolerance));
    CHECK(CloseRel(s, slaney_hz[i], kScaleRelTolerance));
  }
}

TEST_CASE("MelToHz inverts HzToMel", "[features][mel]") {
  for (MelScale scale : {MelScale::kHtk, MelScale::kSlaney}) {
    for (double hz = 0.0; hz <= 24000.0; hz += 123.25) {
      const double back = MelToHz(HzToMel(hz, scale), scale);
      INFO(EnumToString(scale) << " " << hz << " Hz -> " << std::setprecision(17) << back);
      REQUIRE(std::abs(back - hz) <= 1e-9 * std::max(1.0, hz));
    }
  }
}

// One filter of a golden bank: first and last bin with a nonzero weight, those weights, and the row sum.
struct FilterGolden {
  int m, first, last;
  double w_first, w_last, row_sum;
};

void CheckBank(const MelBanks& banks, const std::vector<FilterGolden>& want) {
  const std::vector<std::vector<double>> w = banks.DenseWeights();
  REQUIRE(w.size() == want.size());
  int bad = 0;
  auto fail = [&](int m, const std::string& what, double expected, double got) {
    ++bad;
    FAIL_CHECK("filter " << m << " " << what << ": expected " << std::setprecision(17) << expected << ", got " << got);
  };
  for (const FilterGolden& g : want) {
    const std::vector<double>& row = w[static_cast<size_t>(g.m)];
    REQUIRE(row.size() == 257);
    int first = -1, last = -1;
    double sum = 0.0;
    for (int k = 0; k < static_cast<int>(row.size()); ++k) {
      if (row[static_cast<size_t>(k)] != 0.0) {
        if (first < 0) first = k;
        last = k;
      }
      sum += row[static_cast<size_t>(k)];
    }
    if (first != g.first) fail(g.m, "first nonzero bin", g.first, first);
    if (last != g.last) fail(g.m, "last nonzero bin", g.last, last);
    if (first < 0) continue;
    const double wf = row[static_cast<size_t>(g.first)], wl = row[static_cast<size_t>(g.last)];
    if (!(std::abs(wf - g.w_first) <= kWeightTolerance))
      fail(g.m, "weight of bin " + std::to_string(g.first), g.w_first, wf);
    if (!(std::abs(wl - g.w_last) <= kWeightTolerance))
      fail(g.m, "weight of bin " + std::to_string(g.last), g.w_last, wl);
    if (!(std::abs(sum - g.row_sum) <= kRowSumTolerance)) fail(g.m, "row sum", g.row_sum, sum);
  }
  CHECK(bad == 0);
}

// Produced by (/usr/bin/python3, numpy 1.24.2):
//   import sys; sys.path.insert(0, "tests/data/features")
//   import numpy as np
//   from numpy_logmel import kaldi_melbank, slaney_melbank
//   for W in (kaldi_melbank(23, 512, 16000, 20.0, 0.0), slaney_melbank(40, 512, 16000, 0.0, None)):
//       for m in range(W.shape[0]):
//           nz = np.nonzero(W[m])[0]
//           print("{%d, %d, %d, %r, %r, %r}," % (m, nz[0], nz[-1], float(W[m, nz[0]]), float(W[m, nz[-1]]),
//                                                float(W[m].sum())))
TEST_CASE("Kaldi-style bank (HTK scale, triangles in mel, 23 bins, fft 512, 16 kHz, low 20 Hz) matches kaldi_melbank",
          "[features][mel]") {
  MelBanksConfig c;
  c.num_mel_bins = 23;
  c.low_freq_hz = 20.0;
  c.high_freq_hz = 0.0;
  c.scale = MelScale::kHtk;
  c.triangles = MelTriangles::kMel;
  c.norm = MelNorm::kNone;
  REQUIRE_NOTHROW(c.Validate(16000.0));
  const MelBanks banks(c, 16000.0, 512);
  CHECK(banks.NumBins() == 23);
  CHECK(banks.NumFftBins() == 257);
  CheckBank(banks, {
                       {0, 1, 5, 0.14932836951782708, 0.3307556636292882, 2.6605440055015337},
                       {1, 4, 9, 0.3111552536890549, 0.01832226158720801, 2.966475456063918},
                       {2, 6, 12, 0.01449588496285588, 0.13946187771931684, 3.293353195813065},
                       {3, 10, 16, 0.2836299563024008, 0.07998969646345357, 3.5933284400130563},
                       {4, 13, 20, 0.13653084275570473, 0.12559696572665652, 4.031672469457324},
                       {5, 17, 25, 0.16762000441394967, 0.051937881183849635, 4.4547159238035325},
                       {6, 21, 30, 0.09892338502194503, 0.08605035626718163, 4.964143621656177},
                       {7, 26, 36, 0.14914430545694093, 0.041907617846411414, 5.483500366926902},
                       {8, 31, 42, 0.09602476149724475, 0.09996993462324977, 6.103102004566443},
                       {9, 37, 49, 0.1216190080702892, 0.10615231502700304, 6.756040952131076},
                       {10, 43, 57, 0.04843803861119682, 0.08328360101504709, 7.509103228775286},
                       {11, 50, 66, 0.027806546763244913, 0.049116165806024244, 8.321442593549103},
                       {12, 58, 76, 0.03726223912452395, 0.016920941042934703, 9.226366965567792},
                       {13, 67, 86, 0.05922566162618031, 0.08471547397659204, 10.244809879983638},
                       {14, 77, 98, 0.08046600495391397, 0.07349175772825642, 11.370563648615452},
                       {15, 87, 112, 0.003728553390974996, 0.014019576472396562, 12.609379204432013},
                       {16, 99, 126, 0.006173600515574148, 0.059626845735595554, 13.98097808832501},
                       {17, 113, 143, 0.05737798472477856, 0.01503958193732649, 15.523886056659718},
                       {18, 127, 161, 0.005057661326325091, 0.020080236276122636, 17.212466767885225},
                       {19, 144, 181, 0.04301657274858223, 0.023173918676917676, 19.09764561395594},
                       {20, 162, 203, 0.03229339413706063, 0.033999814632194744, 21.18591817039144},
                       {21, 182, 228, 0.02406250214464369, 0.020930765680068384, 23.51000594688155},
                       {22, 204, 255, 0.008636319180849557, 0.034658140672817105, 26.071927466627788},
                   });
  // kaldi_melbank: "last column (Nyquist) is always zero".
  for (const auto& row : banks.DenseWeights()) CHECK(row[256] == 0.0);

  // Centres: 700 (exp((mel(20) + (m + 1) delta) / 1127) - 1), delta = (mel(8000) - mel(20)) / 24, for m = 0, 11, 22.
  const std::vector<double>& centers = banks.CenterFreqsHz();
  REQUIRE(centers.size() == 23);
  CHECK(std::abs(centers[0] - 98.77343181715155) <= 1e-9);
  CHECK(std::abs(centers[11] - 1802.7984337537043) <= 1e-9);
  CHECK(std::abs(centers[22] - 7142.02347059773) <= 1e-9);
}

TEST_CASE("librosa-style bank (Slaney scale, triangles in Hz, Slaney norm, low 0, 40 bins) matches slaney_melbank",
          "[features][mel]") {
  MelBanksConfig c;
  c.num_mel_bins = 40;
  c.low_freq_hz = 0.0;
  c.high_freq_hz = 0.0;
  c.scale = MelScale::kSlaney;
  c.triangles = MelTriangles::kHz;
  c.norm = MelNorm::kSlaney;
  REQUIRE_NOTHROW(c.Validate(16000.0));
  const MelBanks banks(c, 16000.0, 512);
  CHECK(banks.NumBins() == 40);
  CheckBank(banks, {
                       {0, 1, 4, 0.005773601070147666, 0.004090535244427618, 0.0312754747694459},
                       {1, 3, 7, 0.003728333447933857, 0.0003622017964937612, 0.03163767656593966},
                       {2, 5, 9, 0.001683065825720048, 0.0024074694187075705, 0.03295854059516595},
                       {3, 8, 11, 0.005411399273653906, 0.0044527370409213765, 0.03127547476944591},
                       {4, 10, 14, 0.0033661316514400972, 0.000724403592987522, 0.031999878362433426},
                       {5, 12, 16, 0.001320864029226291, 0.0027696712152013346, 0.03259633879867219},
                       {6, 15, 18, 0.005049197477160142, 0.004814938837415143, 0.0312754747694459},
                       {7, 17, 21, 0.003003929854946332, 0.001086605389481279, 0.032362080158927185},
                       {8, 19, 23, 0.0009586622327325264, 0.003131873011695085, 0.032234137002178434},
                       {9, 22, 25, 0.004686995680666388, 0.0051771406339088995, 0.0312754747694459},
                       {10, 24, 28, 0.00264172805845258, 0.0014488071859750447, 0.03272428195542095},
                       {11, 26, 30, 0.0005964604362387597, 0.003494074808188851, 0.03187193520568467},
                       {12, 29, 33, 0.0042834349560805975, 2.742735902077638e-05, 0.03119769074042632},
                       {13, 31, 35, 0.002105421302045872, 0.002983060087918418, 0.03319913123343044},
                       {14, 34, 38, 0.004526525215439746, 0.0017417193675974647, 0.03147620645885128},
                       {15, 36, 41, 0.001538117407167376, 0.0015974211817558557, 0.03199998473514745},
                       {16, 39, 44, 0.001970923857161027, 0.0022021344627844545, 0.03193161507054781},
                       {17, 42, 48, 0.0016130615228053533, 0.0006190461659217301, 0.03201818345534938},
                       {18, 45, 52, 0.000725226209402554, 7.638486720064766e-05, 0.0318685697767152},
                       {19, 49, 56, 0.001637018272003443, 0.0002659284623041382, 0.0322385610547466},
                       {20, 53, 60, 0.001769321060194813, 0.0009490285461901685, 0.032032959814787},
                       {21, 57, 65, 0.001360694070626065, 0.0004852852526672216, 0.031880081909031986},
                       {22, 61, 70, 0.0005952601306985336, 0.0006045385648561212, 0.03203375949964527},
                       {23, 66, 76, 0.0007743787013927525, 4.133348367725508e-05, 0.03186949976187983},
                       {24, 71, 82, 0.00051596146543496, 2.96157634613298e-05, 0.03210336803965616},
                       {25, 77, 88, 0.0008240867226920471, 0.00039567847972808164, 0.03208952283233124},
                       {26, 83, 95, 0.0007127608906587002, 0.0003234100906202453, 0.03191914104573582},
                       {27, 89, 102, 0.00031754614308247234, 0.0005861095751073196, 0.031927280602947854},
                       {28, 96, 111, 0.00028602814900015745, 5.955981910885127e-05, 0.032093719278738074},
                       {29, 103, 119, 2.719031388963317e-07, 0.0003796628852234293, 0.03197659322287252},
                       {30, 112, 129, 0.00035387425445164303, 0.00012129291632650507, 0.03202005918149793},
                       {31, 120, 139, 4.243340081738312e-05, 0.00016620373633576888, 0.03198549093723087},
                       {32, 130, 150, 0.00019966171380477057, 0.00014210842519971593, 0.03199559095287757},
                       {33, 140, 162, 0.00012218228262582883, 9.008851814201937e-05, 0.03199837584892014},
                       {34, 151, 175, 0.0001055340521370672, 3.67601557950322e-05, 0.031992616016219305},
                       {35, 163, 188, 0.00011617158025628539, 0.00017240388979046907, 0.03199618495428724},
                       {36, 176, 203, 0.00013218653251476228, 0.00013269290530406125, 0.03201792909797787},
                       {37, 189, 219, 1.42301613931534e-06, 0.00012315055718414936, 0.0319898716852095},
                       {38, 204, 237, 1.3518126896536407e-05, 3.2651541789663375e-05, 0.03201283759527179},
                       {39, 220, 255, 4.335886153218688e-06, 9.493390019369368e-05, 0.031981533278951674},
                   });
  // Centres: slaney_mel_to_hz(np.linspace(mel(0), mel(8000), 42))[m + 1] for m = 0, 11, 39.
  const std::vector<double>& centers = banks.CenterFreqsHz();
  REQUIRE(centers.size() == 40);
  CHECK(std::abs(centers[0] - 73.57014710882109) <= 1e-9);
  CHECK(std::abs(centers[11] - 882.8417653058531) <= 1e-9);
  CHECK(std::abs(centers[39] - 7415.484885722341) <= 1e-9);
}

TEST_CASE("MelBanks::Compute equals the dense weights times the spectrum", "[features][mel]") {
  MelBanksConfig c;
  c.num_mel_bins = 40;
  const MelBanks banks(c, 16000.0, 512);
  std::vector<double> spectrum(257);
  for (size_t k = 0; k < spectrum.size(); ++k) spectrum[k] = 1.0 + static_cast<double>((k * 37) % 101);
  std::vector<double> out(40, -1.0);
  banks.Compute(spectrum, out);
  const auto w = banks.DenseWeights();
  for (size_t m = 0; m < out.size(); ++m) {
    double want = 0.0;
    for (size_t k = 0; k < spectrum.size(); ++k) want += w[m][k] * spectrum[k];
    INFO("filter " << m << ": expected " << std::setprecision(17) << want << ", got " << out[m]);
    CHECK(std::abs(out[m] - want) <= 1e-12 * want);
  }
}

TEST_CASE("Filters narrower than one FFT bin stay empty and output 0", "[features][mel]") {
  // 128 filters over a 64-point FFT (33 bins): low filters are much narrower than a 125 Hz bin.
  MelBanksConfig c;
  c.num_mel_bins = 128;
  const MelBanks banks(c, 8000.0, 64);
  const auto w = banks.DenseWeights();
  int empty = 0;
  for (const auto& row : w) {
    bool any = false;
    for (double v : row) any = any || v != 0.0;
    empty += any ? 0 : 1;
  }
  CHECK(empty > 0);
  std::vector<double> spectrum(33, 1.0), out(128, -1.0);
  banks.Compute(spectrum, out);
  for (size_t m = 0; m < w.size(); ++m) {
    double want = 0.0;
    for (double v : w[m]) want += v;
    INFO("filter " << m);
    CHECK(std::abs(out[m] - want) <= 1e-12);
  }
}

TEST_CASE("MelBanksConfig::HighFreqHz: <= 0 counts down from Nyquist", "[features][mel]") {
  MelBanksConfig c;
  c.high_freq_hz = 0.0;
  CHECK(c.HighFreqHz(16000.0) == 8000.0);
  c.high_freq_hz = -400.0;
  CHECK(c.HighFreqHz(16000.0) == 7600.0);
  c.high_freq_hz = 7000.0;
  CHECK(c.HighFreqHz(16000.0) == 7000.0);
}

void CheckRejected(const MelBanksConfig& c, double rate, const std::string& message) {
  CHECK_THROWS_MATCHES(c.Validate(rate, "features.mel"), ConfigError, HasMessage(message, "features.mel."));
}

TEST_CASE("MelBanksConfig::Validate names the field, the value and the rule", "[features][mel][validate]") {
  const MelBanksConfig good;
  CHECK_NOTHROW(good.Validate(16000.0));
  CHECK_NOTHROW(good.Validate(8000.0));

  MelBanksConfig c = good;
  c.num_mel_bins = 0;
  CheckRejected(c, 16000.0, "features.mel.num_mel_bins = 0; expected between 1 and 1024");
  c.num_mel_bins = 1025;
  CheckRejected(c, 16000.0, "features.mel.num_mel_bins = 1025; expected between 1 and 1024");
  c.num_mel_bins = 1024;
  CHECK_NOTHROW(c.Validate(16000.0));

  c = good;
  c.low_freq_hz = -1.0;
  CheckRejected(c, 16000.0, "features.mel.low_freq_hz = -1; expected >= 0 and below the Nyquist frequency 8000 Hz");
  c.low_freq_hz = 8000.0;  // low >= Nyquist
  CheckRejected(c, 16000.0, "features.mel.low_freq_hz = 8000; expected >= 0 and below the Nyquist frequency 8000 Hz");
  c.low_freq_hz = 4000.0;
  CheckRejected(c, 8000.0, "features.mel.low_freq_hz = 4000; expected >= 0 and below the Nyquist frequency 4000 Hz");
  c.low_freq_hz = std::numeric_limits<double>::quiet_NaN();
  CheckRejected(c, 16000.0, "features.mel.low_freq_hz = nan; expected");

  c = good;
  c.high_freq_hz = 9000.0;  // above Nyquist
  CheckRejected(
      c, 16000.0,
      "features.mel.high_freq_hz = 9000; expected an upper edge above low_freq_hz and at most Nyquist 8000 Hz");
  c.high_freq_hz = 8000.0;
  CHECK_NOTHROW(c.Validate(16000.0));
  c.low_freq_hz = 1000.0;
  c.high_freq_hz = 1000.0;  // high <= low
  CheckRejected(c, 16000.0, "features.mel.high_freq_hz = 1000; expected an upper edge above low_freq_hz");
  c.high_freq_hz = 500.0;
  CheckRejected(c, 16000.0, "features.mel.high_freq_hz = 500; expected an upper edge above low_freq_hz");
  c.high_freq_hz = -7000.0;  // Nyquist - 7000 = 1000 = low
  CheckRejected(c, 16000.0, "features.mel.high_freq_hz = -7000; expected an upper edge above low_freq_hz");
  c.high_freq_hz = -6999.0;
  CHECK_NOTHROW(c.Validate(16000.0));
  c.high_freq_hz = std::numeric_limits<double>::infinity();
  CheckRejected(c, 16000.0, "features.mel.high_freq_hz = inf; expected");

  // The default path is "mel".
  c = good;
  c.num_mel_bins = 0;
  CHECK_THROWS_MATCHES(c.Validate(16000.0), ConfigError,
                       HasMessage("mel.num_mel_bins = 0; expected", "mel.num_mel_bins = 0; expected"));
}

TEST_CASE("Mel enum names", "[features][mel]") {
  CHECK(EnumChoices<MelScale>() == "htk|slaney");
  CHECK(EnumChoices<MelTriangles>() == "mel|hz");
  CHECK(EnumChoices<MelNorm>() == "none|slaney");
  CHECK(EnumFromString<MelScale>("slaney") == MelScale::kSlaney);
  CHECK(EnumFromString<MelTriangles>("hz") == MelTriangles::kHz);
  CHECK(EnumFromString<MelNorm>("none") == MelNorm::kNone);
  CHECK_FALSE(EnumFromString<MelScale>("HTK").has_value());
}

}  // namespace
}  // namespace ossicle
