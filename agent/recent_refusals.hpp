// The last streams the relay refused, with its reason (the policy rule it names), for the status
// page: "why does this one host not work?" answered without reading a log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "common/codec/link_frame.hpp"

namespace ferry::agent {

struct Refusal {
  std::int64_t at_unix_s = 0;
  std::string client;   // the local client's address
  std::string target;   // host:port as the client asked
  std::string outcome;  // open_code_name(): "denied by policy", "name not resolved", ...
  std::string reason;   // the relay's words, such as the rule that denied the target
};

class RecentRefusals {
 public:
  static constexpr std::size_t kKept = 20;

  void add(std::string client, std::string target, const frame::OpenResult& r);
  // Newest first.
  const std::deque<Refusal>& all() const noexcept { return kept_; }

 private:
  std::deque<Refusal> kept_;
};

}  // namespace ferry::agent
