// The targets this agent reached through the relay lately, for the early reply (docs/spec.md 6.11).
// A host:port the relay connected within the last 10 minutes, under the routes version the relay
// pushes now, is "warm": the relay will very likely connect it again, so the agent answers the
// client at once and lets the client's first bytes ride right behind the OPEN, which saves the
// client a round trip to the office. A target the relay refuses is forgotten.
//
// Sans-I/O: the caller passes the loop's clock in. Bounded: past kMaxTargets the oldest go.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/codec/target.hpp"

namespace ferry::agent {

class WarmTargets {
 public:
  static constexpr std::uint64_t kWarmMs = 10 * 60 * 1000;
  static constexpr std::size_t kMaxTargets = 4096;

  // `routes_version` is the relay's (0 while it pushed none): a new one may route or deny a target
  // differently, so what was learnt under the old one no longer counts.
  bool warm(const Target& target, std::uint64_t now_ms, std::uint32_t routes_version) const;
  // The relay connected `target`.
  void reached(const Target& target, std::uint64_t now_ms, std::uint32_t routes_version);
  // The relay refused it (or could not reach it): the next client waits for the real answer.
  void forget(const Target& target);
  std::size_t size() const noexcept { return targets_.size(); }

 private:
  struct Seen {
    std::uint64_t at_ms = 0;
    std::uint32_t routes_version = 0;
  };
  static std::string key(const Target& target);
  // Room for one more: the expired go, and if that is not enough, the oldest.
  void make_room(std::uint64_t now_ms);

  std::unordered_map<std::string, Seen> targets_;
};

}  // namespace ferry::agent
