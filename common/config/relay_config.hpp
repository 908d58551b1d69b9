// relay.toml (docs/spec.md 4.1 "relay.toml"): every key, its default, and its checks.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config_error.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/crypto/keys.hpp"

namespace ferry::config {

struct AgentEntry {
  std::string name;
  crypto::PublicKey public_key;
  std::vector<std::string> rules;
  int line = 0;
};

struct RelayConfig {
  std::string file;  // the config file, as given
  std::string listen = "0.0.0.0:7443";
  std::string private_key_file = "relay.key";  // resolved against the config file's directory
  std::string egress_bind;                     // empty: the kernel chooses
  std::string admin_listen;                    // empty: no admin endpoint
  std::string audit_log;                       // empty: none; "-": stderr
  std::int64_t workers = 0;                    // 0: one per core
  // The link ciphers agents may use; empty: ChaCha20-Poly1305, and AES-256-GCM where this CPU has
  // AES instructions (link_suites() gives the effective set).
  std::optional<crypto::SuiteSet> link_ciphers;
  std::int64_t connect_timeout_ms = 10000;
  std::int64_t idle_timeout_s = 900;
  std::int64_t max_streams_per_agent = 4096;
  // Receive credit plus send-queue chunks one agent may hold, over all its links (buffer_budget.hpp).
  std::int64_t max_buffered_mib_per_agent = 64;
  // How long a lost link's streams (targets open, unacknowledged bytes kept) wait for the agent to
  // resume them on a new link; 0 turns stream resumption off.
  std::int64_t resume_grace_s = 90;
  std::int64_t handshake_timeout_ms = 5000;
  std::vector<std::string> policy_rules;
  // [routes] through: names and networks agents should send through the office (route_list.hpp),
  // canonical; pushed to every agent that takes them.
  std::vector<std::string> routes_through;
  // [proxy_protocol] trusted: the load balancers' addresses and networks, canonical. A connection
  // from one must begin with a PROXY v2 header (proxy_v2.hpp), whose source address then stands for
  // the agent's; empty: no PROXY header is taken from anyone.
  std::vector<std::string> proxy_trusted;
  std::vector<AgentEntry> agents;
  // agents_file: more [[agents]], from a file or from every *.toml of a directory (in name order),
  // which configuration management ships to each relay of a fleet; empty: none. policy_file: the
  // [policy] table, from its own file. Both resolved against relay.toml's directory.
  std::string agents_file;
  std::string policy_file;
  // The files actually read for [[agents]] (relay.toml and agents_file's), for the reload log.
  std::vector<std::string> agent_sources;
};

// Checks one rule; returns an error message, or nothing when the rule is valid.
using RuleCheck = std::function<std::optional<std::string>(const std::string& rule)>;

// An [[agents]] name: 1 to 64 printable ASCII characters, no space and no quote.
bool valid_agent_name(const std::string& name);

std::optional<ConfigError> load_relay_config(const std::string& path, RelayConfig& out,
                                             const RuleCheck& check_rule);

crypto::SuiteSet link_suites(const RelayConfig& cfg);

// Resolves a path from a config file against the file's directory (docs/spec.md 4: relative paths are
// relative to the config file).
std::string resolve_path(const std::string& config_file, const std::string& path);

}  // namespace ferry::config
