// A Catch2 matcher for exception messages, shared by the tests that check what an error says:
//   CHECK_THROWS_MATCHES(f(), ossicle::ConfigError, HasMessage("num_mel_bins = 0", "features."));
#pragma once

#include <catch2/catch.hpp>
#include <exception>
#include <string>
#include <utility>

namespace ossicle::test {

// Matches an exception whose what() starts with `prefix` and contains `part`; prints both on failure.
class MessageMatcher : public Catch::MatcherBase<std::exception> {
 public:
  MessageMatcher(std::string part, std::string prefix) : part_(std::move(part)), prefix_(std::move(prefix)) {}
  bool match(const std::exception& e) const override {
    const std::string what = e.what();
    return what.rfind(prefix_, 0) == 0 && what.find(part_) != std::string::npos;
  }
  std::string describe() const override {
    return "has a message starting with \"" + prefix_ + "\" and containing \"" + part_ + "\"";
  }

 private:
  std::string part_, prefix_;
};

inline MessageMatcher HasMessage(std::string part, std::string prefix = "") {
  return MessageMatcher(std::move(part), std::move(prefix));
}

}  // namespace ossicle::test
