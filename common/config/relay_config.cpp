#include "common/config/relay_config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>

#include "common/config/table_reader.hpp"
#include "common/uv/loop.hpp"

namespace ferry::config {
namespace {

void check_address(TableReader& r, std::string_view key, const std::string& value) {
  if (!value.empty() && !uv::parse_socket_address(value))
    r.fail(key, "\"" + value + "\" is not an address: use IP:PORT, or [IPv6]:PORT");
}

void check_rules(TableReader& r, std::string_view key, const std::vector<std::string>& rules,
                 const RuleCheck& check) {
  if (!check) return;
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (auto msg = check(rules[i]))
      return r.fail(key, "rule " + std::to_string(i + 1) + " \"" + rules[i] + "\": " + *msg);
}

void read_agents(TableReader& top, const std::string& file, RelayConfig& out, const RuleCheck& check,
                 std::optional<ConfigError>& err) {
  const toml::array* agents = top.array_of_tables("agents");
  if (!agents) return;
  std::size_t index = 0;
  for (const auto& node : *agents) {
    ++index;
    TableReader r(*node.as_table(), file, "agents[" + std::to_string(index) + "].", err);
    AgentEntry a;
    a.line = static_cast<int>(node.source().begin.line);
    std::string key_text;
    r.string("name", a.name, true);
    r.string("public_key", key_text, true);
    r.string_array("rules", a.rules);
    r.reject_unknown();
    if (err) return;
    if (!valid_agent_name(a.name))
      return r.fail("name", "must be 1 to 64 printable characters, no spaces or quotes");
    auto key = crypto::PublicKey::from_base64(key_text);
    if (!key)
      return r.fail("public_key", "must be the base64 of a 32-byte key (ferry-agent pubkey prints it)");
    a.public_key = *key;
    for (const auto& other : out.agents) {
      if (other.name == a.name) return r.fail("name", "\"" + a.name + "\" is listed twice");
      if (other.public_key == a.public_key)
        return r.fail("public_key", "the same key is listed for \"" + other.name + "\" too");
    }
    check_rules(r, "rules", a.rules, check);
    if (err) return;
    out.agents.push_back(std::move(a));
  }
}

// policy_file: a [policy] table with rules, as relay.toml's would be.
std::optional<ConfigError> read_policy_file(const std::string& file, RelayConfig& out,
                                            const RuleCheck& check) {
  toml::table doc;
  if (auto e = parse_toml_file(file, doc)) return e;
  std::optional<ConfigError> err;
  TableReader top(doc, file, "", err);
  if (const toml::table* policy = top.table("policy")) {
    TableReader r(*policy, file, "policy.", err);
    r.string_array("rules", out.policy_rules);
    r.reject_unknown();
    check_rules(r, "rules", out.policy_rules, check);
  } else {
    top.fail("policy", "a policy_file holds a [policy] table with rules");
  }
  top.reject_unknown();
  return err;
}

// agents_file: one file of [[agents]] tables, or a directory whose *.toml files each hold some (one
// per person suits configuration management and `enroll`). Names and keys are unique over all of
// them and relay.toml; an error names the file and line.
std::optional<ConfigError> read_agents_file(const std::string& where, RelayConfig& out,
                                            const RuleCheck& check) {
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(where, ec)) {
    // increment(ec), not ++: a reload runs in an event loop, where an exception ends the relay.
    for (std::filesystem::directory_iterator it(where, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".toml" && it->path().filename().string()[0] != '.')
        files.push_back(it->path().string());
    if (ec) return ConfigError{where, 0, "agents_file", "cannot list the directory: " + ec.message()};
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(where);
  }
  for (const std::string& file : files) {
    toml::table doc;
    if (auto e = parse_toml_file(file, doc)) return e;
    std::optional<ConfigError> err;
    TableReader top(doc, file, "", err);
    read_agents(top, file, out, check, err);
    top.reject_unknown();
    if (err) return err;
    out.agent_sources.push_back(file);
  }
  return std::nullopt;
}

void read_link_ciphers(TableReader& top, RelayConfig& out) {
  std::vector<std::string> names;
  top.string_array("link_ciphers", names);
  if (!top.has("link_ciphers")) return;
  crypto::SuiteSet set;
  for (const auto& name : names) {
    const auto suite = crypto::parse_suite(name);
    if (!suite)
      return top.fail("link_ciphers",
                      "\"" + name + "\" is not a cipher: use \"chacha20-poly1305\" and/or \"aes-256-gcm\"");
    if (set.contains(*suite)) return top.fail("link_ciphers", "\"" + name + "\" is listed twice");
    set.add(*suite);
  }
  // The original contract's cipher (docs/spec.md 15) stays on: every agent can fall back to it, and an agent
  // that lost an AES handshake (docs/protocol.md 2.5) must find it.
  if (!set.contains(crypto::CipherSuite::ChaChaPoly))
    return top.fail("link_ciphers", "must include \"chacha20-poly1305\", the cipher every agent speaks");
  out.link_ciphers = set;
}

}  // namespace

std::string resolve_path(const std::string& config_file, const std::string& path) {
  if (path.empty() || path == "-" || path.front() == '/') return path;
  return (std::filesystem::path(config_file).parent_path() / path).lexically_normal().string();
}

bool valid_agent_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name)
    if (c < 0x21 || c > 0x7E || c == '"') return false;
  return true;
}

crypto::SuiteSet link_suites(const RelayConfig& cfg) {
  if (cfg.link_ciphers) return *cfg.link_ciphers;
  crypto::SuiteSet s{crypto::CipherSuite::ChaChaPoly};
  if (crypto::aes_gcm_accelerated()) s.add(crypto::CipherSuite::AesGcm);
  return s;
}

std::optional<ConfigError> load_relay_config(const std::string& path, RelayConfig& out,
                                             const RuleCheck& check_rule) {
  toml::table doc;
  if (auto e = parse_toml_file(path, doc)) return e;
  std::optional<ConfigError> err;
  out.file = path;
  TableReader top(doc, path, "", err);
  top.string("listen", out.listen);
  top.string("private_key_file", out.private_key_file);
  top.string("egress_bind", out.egress_bind);
  top.string("admin_listen", out.admin_listen);
  top.string("audit_log", out.audit_log);
  top.integer("workers", out.workers, 0, 256);
  read_link_ciphers(top, out);
  check_address(top, "listen", out.listen);
  check_address(top, "admin_listen", out.admin_listen);
  if (!out.egress_bind.empty()) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, out.egress_bind.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, out.egress_bind.c_str(), buf) != 1)
      top.fail("egress_bind", "must be an IPv4 or IPv6 address (no port)");
  }
  if (const toml::table* limits = top.table("limits")) {
    TableReader r(*limits, path, "limits.", err);
    r.integer("connect_timeout_ms", out.connect_timeout_ms, 100, 600000);
    r.integer("idle_timeout_s", out.idle_timeout_s, 1, 7 * 86400);
    r.integer("max_streams_per_agent", out.max_streams_per_agent, 1, 1000000);
    r.integer("max_buffered_mib_per_agent", out.max_buffered_mib_per_agent, 4, 65536);
    r.integer("resume_grace_s", out.resume_grace_s, 0, 3600);
    r.integer("handshake_timeout_ms", out.handshake_timeout_ms, 100, 600000);
    r.reject_unknown();
  }
  top.string("agents_file", out.agents_file);
  top.string("policy_file", out.policy_file);
  if (const toml::table* policy = top.table("policy")) {
    TableReader r(*policy, path, "policy.", err);
    r.string_array("rules", out.policy_rules);
    r.reject_unknown();
    check_rules(r, "rules", out.policy_rules, check_rule);
    if (!err && !out.policy_file.empty())
      top.fail("policy_file", "relay.toml has a [policy] table too: keep the rules in one place");
  }
  if (const toml::table* routes = top.table("routes")) {
    TableReader r(*routes, path, "routes.", err);
    r.string_array("through", out.routes_through);
    r.reject_unknown();
    if (!err) read_route_list(r, "through", out.routes_through);
  }
  if (const toml::table* proxy = top.table("proxy_protocol")) {
    TableReader r(*proxy, path, "proxy_protocol.", err);
    r.string_array("trusted", out.proxy_trusted);
    r.reject_unknown();
    if (!err) read_address_list(r, "trusted", out.proxy_trusted);
  }
  read_agents(top, path, out, check_rule, err);
  top.reject_unknown();
  if (err) return err;
  out.agent_sources.push_back(path);
  if (!out.policy_file.empty()) {
    out.policy_file = resolve_path(path, out.policy_file);
    if (auto e = read_policy_file(out.policy_file, out, check_rule)) return e;
  }
  if (!out.agents_file.empty()) {
    out.agents_file = resolve_path(path, out.agents_file);
    if (auto e = read_agents_file(out.agents_file, out, check_rule)) return e;
  }
  out.private_key_file = resolve_path(path, out.private_key_file);
  if (out.audit_log != "-") out.audit_log = resolve_path(path, out.audit_log);
  return std::nullopt;
}

}  // namespace ferry::config
