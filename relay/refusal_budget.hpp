// How many refused streams per agent the audit log writes in full. One agent asking for thousands of
// denied targets a second would otherwise write thousands of flushed lines a second under a lock all
// workers share, fill the disk, and let log rotation push earlier evidence out. Past kPerSecond in
// one second, refusals are counted instead: one summary line per agent and second says how many were
// left out and which targets they asked for most. Metrics still count every one.
//
// Sans-I/O: time comes in as milliseconds; the AuditLog holds it under its lock.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ferry::relay {

class RefusalBudget {
 public:
  static constexpr std::uint64_t kPerSecond = 50;     // refusals per agent and second written in full
  static constexpr std::size_t kTrackedTargets = 64;  // distinct targets counted per summary
  static constexpr std::size_t kTopTargets = 5;       // named in a summary line
  static constexpr std::int64_t kAbuseSeconds = 60;   // seconds in a row over the budget: abusive

  struct Summary {
    std::string agent;
    std::int64_t second = 0;  // the second (ms / 1000) the suppressed refusals fell in
    std::uint64_t suppressed = 0;
    std::vector<std::pair<std::string, std::uint64_t>> top;  // most asked first
  };

  // A refusal for `agent` to `target`: true to write it in full, false when it was counted into the
  // agent's summary for this second. Summaries of seconds that have ended are appended to `due`.
  bool note(const std::string& agent, const std::string& target, std::int64_t now_ms,
            std::vector<Summary>& due);
  // Appends the summaries of every second that ended before `now_ms` (a timer calls this).
  void collect(std::int64_t now_ms, std::vector<Summary>& due);
  // The agent went over its budget in every one of the last kAbuseSeconds seconds, this one included.
  bool abusive(const std::string& agent, std::int64_t now_ms) const;

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min() / 2;
  struct Agent {
    std::int64_t second = -1;
    std::uint64_t written = 0;
    std::uint64_t suppressed = 0;
    std::map<std::string, std::uint64_t> targets;
    std::uint64_t other_targets = 0;   // refusals for targets past kTrackedTargets
    std::int64_t over_since = kNever;  // first second of the current run of seconds over budget
    std::int64_t last_over = kNever;   // the last second that went over
  };
  void close_second(const std::string& name, Agent& a, std::vector<Summary>& due);

  std::unordered_map<std::string, Agent> agents_;
};

}  // namespace ferry::relay
