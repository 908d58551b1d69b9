// agent.toml (docs/spec.md 4.2 "agent.toml"): every key, its default, and its checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config_error.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/crypto/keys.hpp"

namespace ferry::config {

// One relay of `[relay] address` (a string, or a list of them).
struct RelayEntry {
  std::string address;  // HOST:PORT
  crypto::PublicKey public_key{};
};

// When the agent answers a SOCKS5 CONNECT or an HTTP CONNECT before the relay has (docs/spec.md 6.11):
// for a target reached through the relay lately ("warm"), never, or always.
enum class EarlyReply { Warm, Never, Always };

struct AgentConfig {
  std::string file;
  std::string private_key_file = "agent.key";
  std::string relay_address;  // HOST:PORT; the agent resolves this one name itself
  crypto::PublicKey relay_key{};
  // Every relay, in preference order (relay_address and relay_key are the first's, or, in a copy
  // made for one LinkPool, that pool's). Each has [relay] public_key unless it names its own.
  static constexpr std::size_t kMaxRelays = 8;
  std::vector<RelayEntry> relays;
  // [relay] cipher: empty for "auto" (AES-256-GCM where this CPU has AES instructions and the relay
  // takes it, ChaCha20-Poly1305 otherwise), or the one suite to use.
  std::optional<crypto::CipherSuite> cipher;
  // [relay] links: TCP connections to the relay, each a link of its own; new streams go to the one
  // that carried the least lately, so a bulk transfer and an interactive stream ride apart.
  static constexpr std::int64_t kMaxLinks = 4;  // the relay takes 8 per agent, dying ones included
  std::int64_t links = 2;
  // [relay] egress_check_url: an http:// URL whose answer body is the caller's IP address, fetched
  // through the link (egress_answer.hpp): what every target sees. Empty: no egress check.
  std::string egress_check_url;
  // [relay] expected_egress: the address that answer must be (the office's); empty: any.
  std::string expected_egress;
  // SIGTERM/SIGINT: open streams may finish for this long, then what is left is closed (0: at once).
  std::int64_t drain_timeout_s = 10;
  // Not read from agent.toml: the first stream id of each link, so that tests reach the end of the
  // ids (docs/protocol.md 4.12) without opening 2^30 streams.
  std::uint32_t first_stream_id = 1;
  std::optional<std::string> http_listen;           // set when [http] is present
  std::optional<std::string> socks_listen;          // set when [socks] is present
  EarlyReply http_early_reply = EarlyReply::Warm;   // [http] early_reply, for CONNECT
  EarlyReply socks_early_reply = EarlyReply::Warm;  // [socks] early_reply, for SOCKS5
  // [routes] extra: the user's own names and networks for the office, beside the relay's
  // (route_list.hpp), canonical.
  std::vector<std::string> routes_extra;
  // [routes] direct_outside: split mode. A target outside the routes is dialled from the laptop, not
  // through the relay; until the relay has pushed its routes, everything still goes through it.
  bool direct_outside = false;
  bool auth = false;
  std::string username;
  std::string password;
};

std::optional<ConfigError> load_agent_config(const std::string& path, AgentConfig& out);

// True for 127.0.0.0/8 and ::1 listen addresses.
bool is_loopback_listen(const std::string& address);

}  // namespace ferry::config
