#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/config/agent_config.hpp"
#include "common/config/relay_config.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using config::AgentConfig;
using config::RelayConfig;

namespace {

const std::string kKey = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
const std::string kKey2 = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::optional<config::ConfigError> relay(const std::string& text, RelayConfig& out) {
  test::TempDir dir;
  const auto path = write(dir, "relay.toml", text);
  auto err = config::load_relay_config(path, out, [](const std::string& r) -> std::optional<std::string> {
    if (r.rfind("allow ", 0) == 0 || r.rfind("deny ", 0) == 0) return std::nullopt;
    return "a rule starts with allow or deny";
  });
  if (err) err->file = "relay.toml";
  return err;
}

// Written 0600, as a config that may hold a password must be.
std::optional<config::ConfigError> agent(const std::string& text, AgentConfig& out) {
  test::TempDir dir;
  const auto path = write(dir, "agent.toml", text);
  ::chmod(path.c_str(), 0600);
  auto err = config::load_agent_config(path, out);
  if (err) err->file = "agent.toml";
  return err;
}

}  // namespace

TEST_CASE("relay.toml: the contract's example loads with every key", "[config]") {
  RelayConfig c;
  auto err = relay(R"(listen = "0.0.0.0:7443"
private_key_file = "relay.key"
egress_bind = "203.0.113.7"
admin_listen = "127.0.0.1:9443"
audit_log = "audit.jsonl"
workers = 0

[limits]
connect_timeout_ms = 10000
idle_timeout_s = 900
max_streams_per_agent = 4096
handshake_timeout_ms = 5000

[policy]
rules = ["allow *.staging.example.com:443", "allow 198.51.100.0/24", "deny *"]

[[agents]]
name = "alice-laptop"
public_key = ")" + kKey +
                       R"("
rules = ["allow *:22"]
)",
                   c);
  REQUIRE_FALSE(err);
  CHECK(c.listen == "0.0.0.0:7443");
  CHECK(c.egress_bind == "203.0.113.7");
  CHECK(c.private_key_file.size() >
        std::string("relay.key").size());  // resolved against the file's directory
  CHECK(c.private_key_file.find("/relay.key") != std::string::npos);
  CHECK(c.policy_rules.size() == 3);
  REQUIRE(c.agents.size() == 1);
  CHECK(c.agents[0].name == "alice-laptop");
  CHECK(c.agents[0].public_key.to_base64() == kKey);
  CHECK(c.agents[0].rules == std::vector<std::string>{"allow *:22"});
  CHECK(c.agents[0].line == 17);
}

TEST_CASE("relay.toml: defaults and refusals name file, line and key", "[config]") {
  RelayConfig c;
  REQUIRE_FALSE(relay("", c));
  CHECK(c.listen == "0.0.0.0:7443");
  CHECK(c.idle_timeout_s == 900);
  CHECK(c.resume_grace_s == 90);
  CHECK(c.proxy_trusted.empty());  // no PROXY header is taken from anyone
  RelayConfig lb;
  REQUIRE_FALSE(relay("[proxy_protocol]\ntrusted = [\"198.51.100.10\", \"2001:DB8::/32\"]\n", lb));
  CHECK(lb.proxy_trusted == std::vector<std::string>{"198.51.100.10", "2001:db8::/32"});

  struct Case {
    std::string text, expect;
  } cases[] = {
      {"listn = \"0.0.0.0:7443\"\n", "relay.toml:1: listn: unknown key"},
      {"\n[limits]\nidle_timeout = 5\n", "relay.toml:3: limits.idle_timeout: unknown key"},
      {"listen = \"0.0.0.0\"\n", "relay.toml:1: listen: \"0.0.0.0\" is not an address"},
      {"workers = -1\n", "relay.toml:1: workers: must be between 0 and 256"},
      {"workers = \"4\"\n", "relay.toml:1: workers: must be an integer"},
      {"egress_bind = \"203.0.113.7:80\"\n", "relay.toml:1: egress_bind: must be an IPv4 or IPv6 address"},
      {"[limits]\nidle_timeout_s = 0\n", "relay.toml:2: limits.idle_timeout_s: must be between 1"},
      {"[limits]\nresume_grace_s = 3601\n",
       "relay.toml:2: limits.resume_grace_s: must be between 0 and 3600"},
      {"[policy]\nrules = [\"permit *\"]\n",
       "relay.toml:2: policy.rules: rule 1 \"permit *\": a rule starts with"},
      {"[[agents]]\nname = \"a\"\n", "relay.toml:1: agents[1].public_key: is required"},
      {"[[agents]]\nname = \"a\"\npublic_key = \"nope\"\n",
       "relay.toml:3: agents[1].public_key: must be the base64"},
      {"[[agents]]\nname = \"a\"\npublic_key = \"" + kKey + "\"\n[[agents]]\nname = \"a\"\npublic_key = \"" +
           kKey2 + "\"\n",
       "relay.toml:5: agents[2].name: \"a\" is listed twice"},
      {"[[agents]]\nname = \"a\"\npublic_key = \"" + kKey + "\"\n[[agents]]\nname = \"b\"\npublic_key = \"" +
           kKey + "\"\n",
       "relay.toml:6: agents[2].public_key: the same key is listed for \"a\" too"},
      {"[[agents]]\nname = \"a b\"\npublic_key = \"" + kKey + "\"\n",
       "agents[1].name: must be 1 to 64 printable"},
      {"[[agents]]\nname = \"a\"\npublic_key = \"" + kKey + "\"\ncolour = 1\n",
       "relay.toml:4: agents[1].colour: unknown key"},
      {"listen = \n", "relay.toml:1: "},
      {"[proxy_protocol]\ntrusted = [\"lb.example.com\"]\n",
       "relay.toml:2: proxy_protocol.trusted: entry 1 \"lb.example.com\": an address or network"},
      {"[proxy_protocol]\ntrusted = [\"198.51.100.10:7443\"]\n", "proxy_protocol.trusted: entry 1"},
      {"[proxy_protocol]\ntrusted = [\"198.51.100.1/24\"]\n", "proxy_protocol.trusted: entry 1"},
      {"[proxy_protocol]\ntrust = []\n", "relay.toml:2: proxy_protocol.trust: unknown key"},
  };
  for (const auto& k : cases) {
    INFO(k.text);
    RelayConfig r;
    auto err = relay(k.text, r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(k.expect));
  }
}

TEST_CASE("agent.toml: listeners, auth and the café rule", "[config]") {
  const std::string relay_part =
      "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n";
  AgentConfig a;
  REQUIRE_FALSE(agent(relay_part + "[http]\n[socks]\nlisten = \"127.0.0.1:1081\"\n", a));
  CHECK(a.http_listen == "127.0.0.1:8080");
  CHECK(a.socks_listen == "127.0.0.1:1081");
  CHECK(a.relay_address == "relay.example.com:7443");
  CHECK_FALSE(a.auth);
  CHECK(a.socks_early_reply == config::EarlyReply::Warm);  // the default on both
  CHECK(a.http_early_reply == config::EarlyReply::Warm);
  AgentConfig early;
  REQUIRE_FALSE(
      agent(relay_part + "[http]\nearly_reply = \"never\"\n[socks]\nearly_reply = \"always\"\n", early));
  CHECK(early.http_early_reply == config::EarlyReply::Never);
  CHECK(early.socks_early_reply == config::EarlyReply::Always);

  struct Case {
    std::string text, expect;
  } cases[] = {
      {relay_part, "agent.toml:1: http: at least one of [http] and [socks] is needed"},
      {"[http]\n", "relay: [relay] is required"},
      {relay_part + "[socks]\nlisten = \"0.0.0.0:1080\"\n",
       "socks: listen is outside loopback; that needs [auth]"},
      {relay_part + "[http]\nlisten = \"localhost:8080\"\n",
       "agent.toml:5: http.listen: \"localhost:8080\" is not an address"},
      {"[relay]\naddress = \"relay.example.com\"\npublic_key = \"" + kKey + "\"\n[http]\n",
       "agent.toml:2: relay.address: must be HOST:PORT"},
      {"[relay]\naddress = \"r:1\"\npublic_key = \"abc\"\n[http]\n",
       "agent.toml:3: relay.public_key: must be the base64"},
      {relay_part + "[http]\n[auth]\nusername = \"me\"\n", "auth.password: is required"},
      {relay_part + "[http]\nproxy = 1\n", "agent.toml:5: http.proxy: unknown key"},
      {relay_part + "[socks]\nearly_reply = \"sometimes\"\n",
       "socks.early_reply: must be \"warm\", \"never\" or \"always\""},
      {relay_part + "[http]\nearly_reply = true\n", "http.early_reply"},
  };
  for (const auto& k : cases) {
    INFO(k.text);
    AgentConfig r;
    auto err = agent(k.text, r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(k.expect));
  }
  AgentConfig open;
  REQUIRE_FALSE(
      agent(relay_part + "[socks]\nlisten = \"0.0.0.0:1080\"\n[auth]\nusername = \"me\"\npassword = \"pw\"\n",
            open));
  CHECK(open.auth);
}

TEST_CASE("agent.toml: the egress check's URL and expected address", "[config]") {
  const std::string relay_part =
      "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n";
  AgentConfig a;
  REQUIRE_FALSE(agent(relay_part + "egress_check_url = \"http://ip.office.example:8080/ip\"\n"
                                   "expected_egress = \"2001:db8::7\"\n[http]\n",
                      a));
  CHECK(a.egress_check_url == "http://ip.office.example:8080/ip");
  CHECK(a.expected_egress == "2001:db8::7");
  AgentConfig none;
  REQUIRE_FALSE(agent(relay_part + "[http]\n", none));
  CHECK(none.egress_check_url.empty());

  struct Case {
    std::string keys, expect;
  } cases[] = {
      {"egress_check_url = \"https://ip.example/\"\n", "relay.egress_check_url: must be an http:// URL"},
      {"egress_check_url = \"http://me@ip.example/\"\n", "relay.egress_check_url: must be an http:// URL"},
      {"egress_check_url = \"ip.example\"\n", "relay.egress_check_url: must be an http:// URL"},
      {"egress_check_url = \"http://ip.example/\"\nexpected_egress = \"office\"\n",
       "relay.expected_egress: must be an IP address"},
      {"expected_egress = \"203.0.113.7\"\n", "relay.expected_egress: needs egress_check_url"},
  };
  for (const auto& k : cases) {
    INFO(k.keys);
    AgentConfig r;
    auto err = agent(relay_part + k.keys + "[http]\n", r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(k.expect));
  }
}

TEST_CASE("agent.toml: [routes] extra and direct_outside", "[config][routes]") {
  const std::string relay_part =
      "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n[http]\n";
  AgentConfig plain;
  REQUIRE_FALSE(agent(relay_part, plain));
  CHECK_FALSE(plain.direct_outside);  // everything through the office unless asked
  AgentConfig split;
  REQUIRE_FALSE(
      agent(relay_part + "[routes]\nextra = [\"Wiki.Example.org\"]\ndirect_outside = true\n", split));
  CHECK(split.direct_outside);
  CHECK(split.routes_extra == std::vector<std::string>{"wiki.example.org"});
  AgentConfig bad;
  auto err = agent(relay_part + "[routes]\ndirect_outside = \"yes\"\n", bad);
  REQUIRE(err);
  CHECK_THAT(err->to_string(), Catch::Contains("routes.direct_outside: must be true or false"));
}

TEST_CASE("agent.toml with [auth] holds a password: refused when group or others can read it",
          "[config][auth]") {
  const std::string relay_part =
      "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n[http]\n";
  test::TempDir dir;
  const auto path = write(dir, "agent.toml", relay_part + "[auth]\nusername = \"me\"\npassword = \"pw\"\n");
  for (const mode_t mode : {0644, 0640, 0604, 0660}) {
    INFO(std::oct << mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    AgentConfig c;
    auto err = config::load_agent_config(path, c);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(path + ":5: auth: "));
    CHECK_THAT(err->to_string(), Catch::Contains("readable by group or others"));
    CHECK_THAT(err->to_string(), Catch::EndsWith("run: chmod 600 " + path));
  }
  for (const mode_t mode : {0600, 0400, 0620}) {
    INFO(std::oct << mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    AgentConfig c;
    CHECK_FALSE(config::load_agent_config(path, c));
  }
  // Without a password in it, the file may be readable by all, as `ferry-agent init` used to write it.
  const auto plain = write(dir, "plain.toml", relay_part);
  REQUIRE(::chmod(plain.c_str(), 0644) == 0);
  AgentConfig c;
  CHECK_FALSE(config::load_agent_config(plain, c));
}

TEST_CASE("relay.toml: link_ciphers", "[config][suite]") {
  using crypto::CipherSuite;
  RelayConfig c;
  REQUIRE_FALSE(relay("", c));
  CHECK_FALSE(c.link_ciphers);
  // The default: ChaCha20-Poly1305 always, AES-256-GCM where this CPU runs it in hardware.
  CHECK(config::link_suites(c).contains(CipherSuite::ChaChaPoly));
  CHECK(config::link_suites(c).contains(CipherSuite::AesGcm) == crypto::aes_gcm_accelerated());

  RelayConfig only;
  REQUIRE_FALSE(relay("link_ciphers = [\"chacha20-poly1305\"]\n", only));
  CHECK(config::link_suites(only) == crypto::SuiteSet{CipherSuite::ChaChaPoly});
  RelayConfig both;
  REQUIRE_FALSE(relay("link_ciphers = [\"aes-256-gcm\", \"chacha20-poly1305\"]\n", both));
  CHECK(config::link_suites(both) == (crypto::SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm}));

  for (const auto& [text, expect] : {
           std::pair{std::string("link_ciphers = []\n"),
                     "relay.toml:1: link_ciphers: must include \"chacha20-poly1305\", the cipher every agent "
                     "speaks"},
           std::pair{std::string("link_ciphers = [\"aes-256-gcm\"]\n"),
                     "relay.toml:1: link_ciphers: must include \"chacha20-poly1305\""},
           std::pair{std::string("link_ciphers = [\"aes-128-gcm\"]\n"),
                     "relay.toml:1: link_ciphers: \"aes-128-gcm\" is not a cipher"},
           std::pair{std::string("link_ciphers = [\"aes-256-gcm\", \"aes-256-gcm\"]\n"),
                     "relay.toml:1: link_ciphers: \"aes-256-gcm\" is listed twice"},
           std::pair{std::string("link_ciphers = \"aes-256-gcm\"\n"),
                     "relay.toml:1: link_ciphers: must be an array"},
       }) {
    INFO(text);
    RelayConfig r;
    auto err = relay(text, r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(expect));
  }
}

TEST_CASE("agent.toml: [relay] cipher", "[config][suite]") {
  const std::string head = "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n";
  const std::string tail = "[socks]\n";
  AgentConfig a;
  REQUIRE_FALSE(agent(head + tail, a));
  CHECK_FALSE(a.cipher);  // auto
  AgentConfig b;
  REQUIRE_FALSE(agent(head + "cipher = \"auto\"\n" + tail, b));
  CHECK_FALSE(b.cipher);
  AgentConfig c;
  REQUIRE_FALSE(agent(head + "cipher = \"aes-256-gcm\"\n" + tail, c));
  CHECK(c.cipher == crypto::CipherSuite::AesGcm);
  AgentConfig d;
  REQUIRE_FALSE(agent(head + "cipher = \"chacha20-poly1305\"\n" + tail, d));
  CHECK(d.cipher == crypto::CipherSuite::ChaChaPoly);
  AgentConfig e;
  auto err = agent(head + "cipher = \"rc4\"\n" + tail, e);
  REQUIRE(err);
  CHECK_THAT(err->to_string(),
             Catch::Contains(
                 "agent.toml:4: relay.cipher: must be \"auto\", \"aes-256-gcm\" or \"chacha20-poly1305\""));
}

TEST_CASE("agent.toml: [relay] links", "[config][pool]") {
  const std::string head = "[relay]\naddress = \"relay.example.com:7443\"\npublic_key = \"" + kKey + "\"\n";
  AgentConfig a;
  REQUIRE_FALSE(agent(head + "[socks]\n", a));
  CHECK(a.links == 2);  // the default pool
  AgentConfig one;
  REQUIRE_FALSE(agent(head + "links = 1\n[socks]\n", one));
  CHECK(one.links == 1);
  AgentConfig four;
  REQUIRE_FALSE(agent(head + "links = 4\n[socks]\n", four));
  CHECK(four.links == 4);
  for (const char* bad : {"links = 0\n", "links = 5\n", "links = \"two\"\n", "links = 1.5\n"}) {
    AgentConfig x;
    auto err = agent(head + bad + "[socks]\n", x);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains("agent.toml:4: relay.links:"));
  }
}

TEST_CASE("relay.toml: agents_file (a file or a directory of *.toml) and policy_file", "[config][fleet]") {
  test::TempDir dir;
  const std::string relay_toml = dir.path + "/relay.toml";
  auto relay_with = [&](const std::string& text, RelayConfig& out) {
    std::ofstream(relay_toml) << text;
    return config::load_relay_config(relay_toml, out, [](const std::string& r) -> std::optional<std::string> {
      if (r.rfind("allow ", 0) == 0 || r.rfind("deny ", 0) == 0) return std::nullopt;
      return "a rule starts with allow or deny";
    });
  };
  const std::string alice = "[[agents]]\nname = \"alice\"\npublic_key = \"" + kKey + "\"\n";
  const std::string bob = "[[agents]]\nname = \"bob\"\npublic_key = \"" + kKey2 + "\"\n";

  // One file beside relay.toml, relative to it; the policy in a file of its own.
  write(dir, "agents.toml", alice + bob);
  write(dir, "policy.toml", "[policy]\nrules = [\"allow *.corp.example:443\", \"deny *\"]\n");
  RelayConfig one;
  REQUIRE_FALSE(relay_with("agents_file = \"agents.toml\"\npolicy_file = \"policy.toml\"\n", one));
  REQUIRE(one.agents.size() == 2);
  CHECK(one.agents[1].name == "bob");
  CHECK(one.policy_rules == std::vector<std::string>{"allow *.corp.example:443", "deny *"});
  CHECK(one.agent_sources == std::vector<std::string>{relay_toml, dir.path + "/agents.toml"});

  // A directory: every *.toml in name order; other files and dot files are not read.
  std::filesystem::create_directory(dir.path + "/agents.d");
  write(dir, "agents.d/20-bob.toml", bob);
  write(dir, "agents.d/10-alice.toml", alice);
  write(dir, "agents.d/README", "not toml at all [[[");
  write(dir, "agents.d/.carol.toml.swp", "[[[");
  RelayConfig many;
  REQUIRE_FALSE(relay_with("agents_file = \"agents.d\"\n", many));
  REQUIRE(many.agents.size() == 2);
  CHECK(many.agents[0].name == "alice");
  CHECK(many.agents[1].name == "bob");

  // Refusals name the file and line: a name in two files, relay.toml's own [[agents]] too, a
  // [policy] in both places, a missing file, something else than [[agents]] in an agents file.
  struct Case {
    std::string relay, expect;
  } cases[] = {
      {"agents_file = \"agents.d\"\n" + alice,
       "agents.d/10-alice.toml:2: agents[1].name: \"alice\" is listed twice"},
      {"policy_file = \"policy.toml\"\n[policy]\nrules = []\n",
       "policy_file: relay.toml has a [policy] table too"},
      {"agents_file = \"nowhere.toml\"\n", "nowhere.toml"},
      {"policy_file = \"agents.toml\"\n", "policy: a policy_file holds a [policy] table with rules"},
  };
  for (const auto& c : cases) {
    INFO(c.relay);
    RelayConfig r;
    auto err = relay_with(c.relay, r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(c.expect));
  }
  write(dir, "agents.d/30-odd.toml", "listen = \"0.0.0.0:1\"\n");
  RelayConfig odd;
  auto err = relay_with("agents_file = \"agents.d\"\n", odd);
  REQUIRE(err);
  CHECK_THAT(err->to_string(), Catch::Contains("30-odd.toml:1: listen: unknown key"));
}

TEST_CASE("agent.toml: [relay] address as a list of relays, each with the shared key or its own",
          "[config][fleet]") {
  const std::string key = "public_key = \"" + kKey + "\"\n";
  AgentConfig one;
  REQUIRE_FALSE(agent("[relay]\naddress = \"relay.example.com:7443\"\n" + key + "[http]\n", one));
  REQUIRE(one.relays.size() == 1);
  CHECK(one.relays[0].address == "relay.example.com:7443");
  CHECK(one.relay_address == "relay.example.com:7443");  // the first relay, as before

  AgentConfig two;
  REQUIRE_FALSE(
      agent("[relay]\naddress = [\"relay-a.example.com:7443\", { address = \"relay-b.example.com:7443\", "
            "public_key = \"" +
                kKey2 + "\" }]\n" + key + "[http]\n",
            two));
  REQUIRE(two.relays.size() == 2);
  CHECK(two.relays[0].public_key.to_base64() == kKey);   // the shared key
  CHECK(two.relays[1].public_key.to_base64() == kKey2);  // its own
  CHECK(two.relay_address == "relay-a.example.com:7443");

  AgentConfig own_keys;  // no shared key needed when every entry names one
  REQUIRE_FALSE(agent("[relay]\naddress = [{ address = \"a.example:1\", public_key = \"" + kKey +
                          "\" }, { address = \"b.example:1\", public_key = \"" + kKey2 + "\" }]\n[http]\n",
                      own_keys));
  CHECK(own_keys.relays.size() == 2);

  struct Case {
    std::string relay, expect;
  } cases[] = {
      {"address = []\n" + key, "relay.address: must be \"HOST:PORT\" or a list of 1 to 8 relays"},
      {"address = [\"a.example:1\", \"a.example:1\"]\n" + key,
       "relay.address: \"a.example:1\" is listed twice"},
      {"address = [\"a.example\"]\n" + key, "relay.address: must be HOST:PORT"},
      {"address = [\"a.example:1\", 7]\n" + key, "relay.address: entry 2: each relay is"},
      {"address = [{ address = \"a.example:1\", key = \"x\" }]\n" + key, "relay.address[1].key: unknown key"},
      {"address = [{ address = \"a.example:1\" }, \"b.example:1\"]\n", "relay.public_key: is required"},
      {"address = [{ address = \"a.example:1\", public_key = \"nope\" }]\n" + key,
       "relay.address[1].public_key: must be"},
      {"address = 7443\n" + key, "relay.address: must be \"HOST:PORT\" or a list"},
  };
  for (const auto& c : cases) {
    INFO(c.relay);
    AgentConfig r;
    auto err = agent("[relay]\n" + c.relay + "[http]\n", r);
    REQUIRE(err);
    CHECK_THAT(err->to_string(), Catch::Contains(c.expect));
  }
}
