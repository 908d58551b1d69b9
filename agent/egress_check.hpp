// The egress check: which address do targets see? agent.toml [relay] egress_check_url names an HTTP
// URL that answers with the caller's address (egress_answer.hpp); the agent fetches it through the
// link as an ordinary stream, so the relay's policy must allow it and the answer comes from the very
// path real traffic takes. The running agent checks once per new session of its primary link
// (`ferry-agent status` and the status page show the last one); `ferry-agent doctor` checks too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/one_stream.hpp"
#include "common/config/agent_config.hpp"

namespace ferry::agent {

struct EgressReport {
  std::int64_t at_unix_s = 0;  // when it ran (0: never)
  std::string address;         // what the target saw, when the check worked
  std::string expected;        // agent.toml [relay] expected_egress ("" for any)
  std::string error;           // why the check did not work
  bool ran() const noexcept { return at_unix_s != 0; }
  bool matches() const;  // worked, and the address is the expected one (if any is set)
  // "the target sees you as 203.0.113.7", or what went wrong, in one sentence.
  std::string summary() const;
};

class EgressCheck {
 public:
  static constexpr std::uint64_t kDeadlineMs = 15'000;  // the relay's dial timeout and then some

  EgressCheck(uv_loop_t* loop, OneStream::Links links, const config::AgentConfig& cfg);
  // Fetches the URL; `done` gets the report. A check under way is abandoned for the new one.
  void run(std::function<void(const EgressReport&)> done);
  bool running() const noexcept { return running_ != nullptr; }
  // Abandons a check under way; `gone` runs once nothing of it is left.
  void close(std::function<void()> gone);

 private:
  void retire();
  void maybe_gone();

  uv_loop_t* loop_;
  OneStream::Links links_;
  const config::AgentConfig& cfg_;
  std::unique_ptr<OneStream> running_;
  std::vector<std::unique_ptr<OneStream>> closing_;
  std::function<void()> gone_;
  bool closed_ = false;
};

}  // namespace ferry::agent
