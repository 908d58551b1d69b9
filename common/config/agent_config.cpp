#include "common/config/agent_config.hpp"

#include <sys/stat.h>

#include "common/codec/egress_answer.hpp"
#include "common/config/relay_config.hpp"
#include "common/config/table_reader.hpp"
#include "common/secret_file.hpp"
#include "common/uv/loop.hpp"

namespace ferry::config {
namespace {

void read_listener(TableReader& top, const std::string& file, std::string_view table, const char* fallback,
                   std::optional<std::string>& out, EarlyReply& early_reply,
                   std::optional<ConfigError>& err) {
  const toml::table* t = top.table(table);
  if (!t) return;
  TableReader r(*t, file, std::string(table) + ".", err);
  std::string listen = fallback;
  std::string early = "warm";
  r.string("listen", listen);
  r.string("early_reply", early);
  r.reject_unknown();
  if (err) return;
  if (!uv::parse_socket_address(listen))
    return r.fail("listen", "\"" + listen + "\" is not an address: use IP:PORT");
  if (early == "warm")
    early_reply = EarlyReply::Warm;
  else if (early == "never")
    early_reply = EarlyReply::Never;
  else if (early == "always")
    early_reply = EarlyReply::Always;
  else
    return r.fail("early_reply", "must be \"warm\", \"never\" or \"always\"");
  out = listen;
}

// "relay.example.com:7443", "192.0.2.1:7443", "[2001:db8::1]:7443".
bool valid_host_port(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  const std::string port = s.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  const long p = std::stol(port);
  return p >= 1 && p <= 65535;
}

// [auth] puts the password in this file: whoever else can read it can use the proxy as this user.
void refuse_open_password_file(TableReader& top, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // it was just read; nothing to judge
  if (auto why = password_file_refusal(path, st.st_mode); !why.empty()) top.fail("auth", why);
}

}  // namespace

bool is_loopback_listen(const std::string& address) {
  auto ss = uv::parse_socket_address(address);
  if (!ss) return false;
  if (ss->ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&*ss);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&*ss);
  return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

namespace {

// [relay] address: "HOST:PORT", or a list of relays in preference order, each "HOST:PORT" or
// { address = "HOST:PORT", public_key = "..." } (its own key; else [relay] public_key).
void read_relay_addresses(TableReader& r, const std::string& path, AgentConfig& out,
                          std::optional<ConfigError>& err) {
  const toml::node* n = r.node("address");
  const auto add = [&](const std::string& address, const std::string& key_text, TableReader& where,
                       std::string_view key) {
    if (!valid_host_port(address)) return where.fail(key, "must be HOST:PORT, e.g. relay.example.com:7443");
    RelayEntry e{address, {}};
    if (!key_text.empty()) {
      auto k = crypto::PublicKey::from_base64(key_text);
      if (!k)
        return where.fail("public_key",
                          "must be the base64 of the relay's 32-byte public key (ferry-relay pubkey)");
      e.public_key = *k;
    }
    for (const RelayEntry& other : out.relays)
      if (other.address == address) return where.fail(key, "\"" + address + "\" is listed twice");
    out.relays.push_back(e);
  };
  if (!n) return r.fail("address", "is required");
  if (n->is_string()) return add(**n->as_string(), "", r, "address");
  const toml::array* list = n->as_array();
  if (!list || list->empty() || list->size() > AgentConfig::kMaxRelays)
    return r.fail("address", "must be \"HOST:PORT\" or a list of 1 to " +
                                 std::to_string(AgentConfig::kMaxRelays) + " relays");
  std::size_t i = 0;
  for (const toml::node& item : *list) {
    ++i;
    if (err) return;
    if (item.is_string()) {
      add(**item.as_string(), "", r, "address");
    } else if (const toml::table* t = item.as_table()) {
      TableReader e(*t, path, "relay.address[" + std::to_string(i) + "].", err);
      std::string address, key_text;
      e.string("address", address, true);
      e.string("public_key", key_text);
      e.reject_unknown();
      if (!err) add(address, key_text, e, "address");
    } else {
      r.fail("address",
             "entry " + std::to_string(i) +
                 ": each relay is \"HOST:PORT\" or { address = \"HOST:PORT\", public_key = \"...\" }");
    }
  }
}

}  // namespace

std::optional<ConfigError> load_agent_config(const std::string& path, AgentConfig& out) {
  toml::table doc;
  if (auto e = parse_toml_file(path, doc)) return e;
  std::optional<ConfigError> err;
  out.file = path;
  TableReader top(doc, path, "", err);
  top.string("private_key_file", out.private_key_file);
  top.integer("drain_timeout_s", out.drain_timeout_s, 0, 3600);
  if (const toml::table* relay = top.table("relay")) {
    TableReader r(*relay, path, "relay.", err);
    std::string key_text;
    std::string cipher = "auto";
    read_relay_addresses(r, path, out, err);
    r.string("public_key", key_text);
    r.string("cipher", cipher);
    r.integer("links", out.links, 1, AgentConfig::kMaxLinks);
    r.string("egress_check_url", out.egress_check_url);
    r.string("expected_egress", out.expected_egress);
    r.reject_unknown();
    if (!err && !out.egress_check_url.empty() && !egress::parse_check_url(out.egress_check_url))
      r.fail("egress_check_url",
             "must be an http:// URL whose answer is the caller's IP address, e.g. "
             "http://ip.office.example/ (https is not supported: the link already encrypts it)");
    if (!err && !out.expected_egress.empty() && !egress::is_ip_address(out.expected_egress))
      r.fail("expected_egress", "must be an IP address, e.g. \"203.0.113.7\"");
    if (!err && !out.expected_egress.empty() && out.egress_check_url.empty())
      r.fail("expected_egress", "needs egress_check_url: the address is learnt from that URL's answer");
    if (!err && cipher != "auto") {
      out.cipher = crypto::parse_suite(cipher);
      if (!out.cipher) r.fail("cipher", "must be \"auto\", \"aes-256-gcm\" or \"chacha20-poly1305\"");
    }
    if (!err && key_text.empty()) {
      for (const RelayEntry& e : out.relays)
        if (e.public_key == crypto::PublicKey{}) r.fail("public_key", "is required");
    } else if (!err) {
      auto key = crypto::PublicKey::from_base64(key_text);
      if (!key)
        r.fail("public_key", "must be the base64 of the relay's 32-byte public key (ferry-relay pubkey)");
      else
        for (RelayEntry& e : out.relays)
          if (e.public_key == crypto::PublicKey{}) e.public_key = *key;
    }
    if (!err) {
      out.relay_address = out.relays.front().address;
      out.relay_key = out.relays.front().public_key;
    }
  } else {
    top.fail("relay", "[relay] is required: address and public_key");
  }
  if (const toml::table* routes = top.table("routes")) {
    TableReader r(*routes, path, "routes.", err);
    r.string_array("extra", out.routes_extra);
    r.boolean("direct_outside", out.direct_outside);
    r.reject_unknown();
    if (!err) read_route_list(r, "extra", out.routes_extra);
  }
  read_listener(top, path, "http", "127.0.0.1:8080", out.http_listen, out.http_early_reply, err);
  read_listener(top, path, "socks", "127.0.0.1:1080", out.socks_listen, out.socks_early_reply, err);
  if (const toml::table* auth = top.table("auth")) {
    TableReader r(*auth, path, "auth.", err);
    r.string("username", out.username, true);
    r.string("password", out.password, true);
    r.reject_unknown();
    if (!err && (out.username.empty() || out.username.size() > 255))
      r.fail("username", "must be 1 to 255 bytes (RFC 1929)");
    if (!err && (out.password.empty() || out.password.size() > 255))
      r.fail("password", "must be 1 to 255 bytes (RFC 1929)");
    out.auth = true;
  }
  top.reject_unknown();
  if (!err && !out.http_listen && !out.socks_listen)
    top.fail("http", "at least one of [http] and [socks] is needed");
  if (!err && !out.auth) {
    // An open proxy on a café network must not happen by accident.
    if (out.http_listen && !is_loopback_listen(*out.http_listen))
      top.fail("http", "listen is outside loopback; that needs [auth] (username and password)");
    else if (out.socks_listen && !is_loopback_listen(*out.socks_listen))
      top.fail("socks", "listen is outside loopback; that needs [auth] (username and password)");
  }
  if (!err && out.auth) refuse_open_password_file(top, path);
  if (err) return err;
  out.private_key_file = resolve_path(path, out.private_key_file);
  return std::nullopt;
}

}  // namespace ferry::config
