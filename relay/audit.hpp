// The audit log: one JSON object per stream (docs/spec.md 11 "Audit log"): time, agent, target as asked,
// address dialled, result, bytes each way, duration. Never payload, never keys.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "relay/refusal_budget.hpp"

namespace ferry::relay {

struct AuditRecord {
  std::string agent;
  std::string from;  // the agent's address ("IP:PORT"; a trusted balancer's PROXY header gives it)
  std::string target;
  std::string dialled;
  std::string result;            // "connected", "denied by policy", ...
  std::string reason;            // the rule or error, when there is one
  std::uint64_t bytes_up = 0;    // agent -> target
  std::uint64_t bytes_down = 0;  // target -> agent
  double duration_s = 0;
  std::uint64_t resumes = 0;  // lost links the stream lived through (stream resumption)
};

class AuditLog {
 public:
  // "" disables the log; "-" writes to stderr; anything else is a file opened for appending.
  bool open(const std::string& where);
  // SIGHUP after a rotation: when the file at the path is no longer the one held open (renamed or
  // removed), opens the path afresh; a HUP without a rotation changes nothing. False only when the
  // new file cannot be opened (records then keep going to the old one).
  bool reopen();
  ~AuditLog();
  // A stream that was not "connected" counts against its agent's RefusalBudget: past it, the line is
  // left out and counted into that agent's summary line for the second.
  void write(const AuditRecord& r);
  // Writes the summary lines of seconds that have ended (a 1 s timer); with `all`, every one (exit).
  void flush_summaries(bool all = false);
  // The agent has refused streams past its budget for RefusalBudget::kAbuseSeconds seconds in a row.
  bool abusive(const std::string& agent);

 private:
  static std::int64_t now_ms();
  void put_summaries(const std::vector<RefusalBudget::Summary>& due);  // mutex_ held
  void put_line(const std::string& line);                              // mutex_ held

  std::mutex mutex_;
  RefusalBudget budget_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
};

}  // namespace ferry::relay
