// The two integer hashes pipeline/ uses to derive reproducible seeds and cache names. Internal to pipeline/.
#pragma once

#include <cstdint>
#include <string_view>

namespace ossicle {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix for deriving seeds.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 64-bit FNV-1a (offset basis and prime from the FNV reference, http://www.isthe.com/chongo/tech/comp/fnv/).
inline uint64_t Fnv1a64(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace ossicle
