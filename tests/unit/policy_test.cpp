// Policy evaluation: one table of streams (agent rules, [policy] rules, target, port, resolved addresses)
// and the decision the relay must reach, including the rule text users see.
#include "common/policy/policy.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/policy/local_addresses.hpp"

using namespace ferry;
using namespace ferry::policy;

namespace {

using Rules = std::vector<std::string>;

struct Case {
  Rules agent;         // rules of agent "alice"
  Rules policy;        // [policy] rules
  std::string target;  // a name, or an IP literal (IPv6 without brackets)
  std::uint16_t port;
  Rules resolved;  // what the name resolved to (ignored for literals)
  bool allowed;
  std::string text;  // the deciding rule as users see it
};

const Rules kSpec = {"allow *.staging.example.com:443", "allow 198.51.100.0/24", "deny *"};
const std::string kSpec1 = "rule 1 of [policy]: \"allow *.staging.example.com:443\"";
const std::string kSpec2 = "rule 2 of [policy]: \"allow 198.51.100.0/24\"";
const std::string kSpec3 = "rule 3 of [policy]: \"deny *\"";
const Rules kZone = {"allow *.example.com", "deny *"};
const std::string kZone1 = "rule 1 of [policy]: \"allow *.example.com\"";
const std::string kZone2 = "rule 2 of [policy]: \"deny *\"";
const std::string kLoop = "deny loopback (built-in)";
const std::string kLink = "deny link-local (built-in)";
const std::string kMulti = "deny multicast (built-in)";
const std::string kUnspec = "deny unspecified (built-in)";
const std::string kAllowAll = "allow * (built-in)";

const std::vector<Case> kCases = {
    // The contract's relay.toml example (docs/spec.md 4.1).
    {{}, kSpec, "a.staging.example.com", 443, {"10.1.2.3"}, true, kSpec1},
    {{}, kSpec, "a.staging.example.com", 443, {"198.51.100.9"}, true, kSpec1},
    {{}, kSpec, "a.staging.example.com", 443, {"127.0.0.1"}, false, kLoop},
    {{}, kSpec, "8.8.8.8", 443, {}, false, kSpec3},
    {{}, kSpec, "198.51.100.7", 22, {}, true, kSpec2},
    {{}, kSpec, "198.51.100.255", 1, {}, true, kSpec2},
    {{}, kSpec, "evil.com", 443, {}, false, kSpec3},
    {{}, kSpec, "a.staging.example.com", 80, {}, false, kSpec3},
    {{}, kSpec, "staging.example.com", 443, {}, false, kSpec3},
    // "allow localhost" is about the name only; the address stays denied.
    {{}, {"allow localhost", "deny *"}, "localhost", 80, {"127.0.0.1"}, false, kLoop},
    {{}, {"allow localhost", "deny *"}, "localhost", 80, {"::1"}, false, kLoop},
    {{}, {"allow localhost", "deny *"}, "LocalHost.", 80, {"::ffff:127.0.0.1"}, false, kLoop},
    // An explicit address rule before the built-ins opens exactly that address and port.
    {{},
     {"allow 127.0.0.1:8080", "deny *"},
     "127.0.0.1",
     8080,
     {},
     true,
     "rule 1 of [policy]: \"allow 127.0.0.1:8080\""},
    {{},
     {"allow 127.0.0.1:8080", "allow localhost:8080", "deny *"},
     "localhost",
     8080,
     {"127.0.0.1"},
     true,
     "rule 2 of [policy]: \"allow localhost:8080\""},
    {{},
     {"allow 127.0.0.1:8080", "allow localhost", "deny *"},
     "localhost",
     8081,
     {"127.0.0.1"},
     false,
     kLoop},
    {{}, {"allow 127.0.0.1:8080"}, "127.0.0.1", 8081, {}, false, kLoop},
    // Built-in denies for IP literals, IPv4 and IPv6.
    {{}, {}, "127.0.0.1", 80, {}, false, kLoop},
    {{}, {}, "127.255.255.254", 80, {}, false, kLoop},
    {{}, {}, "::1", 80, {}, false, kLoop},
    {{}, {}, "fe80::1", 80, {}, false, kLink},
    {{}, {}, "169.254.169.254", 80, {}, false, kLink},
    {{}, {}, "ff02::1", 80, {}, false, kMulti},
    {{}, {}, "224.0.0.251", 5353, {}, false, kMulti},
    {{}, {}, "255.255.255.255", 80, {}, false, kMulti},
    {{}, {}, "0.0.0.0", 80, {}, false, kUnspec},
    {{}, {}, "::", 80, {}, false, kUnspec},
    {{}, {}, "192.168.1.1", 80, {}, true, kAllowAll},
    {{}, {}, "2001:db8::1", 443, {}, true, kAllowAll},
    // IPv4-mapped and -compatible IPv6 are their IPv4 address.
    {{}, {}, "::ffff:127.0.0.1", 80, {}, false, kLoop},
    {{}, {}, "::ffff:169.254.169.254", 80, {}, false, kLink},
    {{}, {}, "::ffff:224.0.0.1", 80, {}, false, kMulti},
    {{}, {}, "::7f00:1", 80, {}, false, kLoop},
    {{}, {"deny 10.0.0.0/8"}, "::ffff:10.1.2.3", 80, {}, false, "rule 1 of [policy]: \"deny 10.0.0.0/8\""},
    {{},
     {"deny [::ffff:10.0.0.0/104]"},
     "10.9.9.9",
     80,
     {},
     false,
     "rule 1 of [policy]: \"deny 10.0.0.0/8\""},
    // IPv6 blocks and bracketed addresses with ports.
    {{},
     {"deny [2001:db8::/32]:443"},
     "2001:db8::1",
     443,
     {},
     false,
     "rule 1 of [policy]: \"deny [2001:db8::/32]:443\""},
    {{}, {"deny [2001:db8::/32]:443"}, "2001:db8::1", 80, {}, true, kAllowAll},
    {{}, {"deny [2001:db8::/32]:443"}, "2001:db9::1", 443, {}, true, kAllowAll},
    {{},
     {"allow [2001:db8::1]:443", "deny *"},
     "2001:db8::1",
     443,
     {},
     true,
     "rule 1 of [policy]: \"allow [2001:db8::1]:443\""},
    {{},
     {"allow [2001:db8::1]:443", "deny *"},
     "2001:db8::2",
     443,
     {},
     false,
     "rule 2 of [policy]: \"deny *\""},
    {{}, {"deny private"}, "fd00::1", 80, {}, false, "rule 1 of [policy]: \"deny private\""},
    {{}, {"deny private"}, "172.31.255.255", 80, {}, false, "rule 1 of [policy]: \"deny private\""},
    {{}, {"deny private"}, "172.32.0.1", 80, {}, true, kAllowAll},
    // DNS rebinding: an allowed name that resolves somewhere it must not go.
    {{}, kZone, "rebind.example.com", 443, {"169.254.169.254"}, false, kLink},
    {{}, kZone, "rebind.example.com", 443, {"::ffff:169.254.169.254"}, false, kLink},
    {{}, kZone, "rebind.example.com", 443, {"0.0.0.0"}, false, kUnspec},
    {{}, kZone, "rebind.example.com", 443, {"224.0.0.1"}, false, kMulti},
    {{}, kZone, "rebind.example.com", 443, {"ff02::1"}, false, kMulti},
    {{}, kZone, "rebind.example.com", 443, {"fe80::1"}, false, kLink},
    {{}, kZone, "rebind.example.com", 443, {"93.184.216.34", "127.0.0.1"}, false, kLoop},
    {{},
     {"allow *.example.com", "deny private", "deny *"},
     "rebind.example.com",
     443,
     {"10.1.2.3"},
     false,
     "rule 2 of [policy]: \"deny private\""},
    {{},
     {"allow *.example.com", "deny private", "deny *"},
     "www.example.com",
     443,
     {"93.184.216.34"},
     true,
     kZone1},
    // Suffix boundaries, case and the final dot.
    {{}, kZone, "a.example.com", 443, {"93.184.216.34"}, true, kZone1},
    {{}, kZone, "a.b.example.com", 443, {"93.184.216.34"}, true, kZone1},
    {{}, kZone, "example.com", 443, {}, false, kZone2},
    {{}, kZone, "badexample.com", 443, {}, false, kZone2},
    {{}, kZone, "example.com.evil.org", 443, {}, false, kZone2},
    {{}, kZone, "WWW.Example.COM.", 443, {"93.184.216.34"}, true, kZone1},
    {{},
     {"allow Example.COM.:443", "deny *"},
     "example.com",
     443,
     {"93.184.216.34"},
     true,
     "rule 1 of [policy]: \"allow example.com:443\""},
    {{},
     {"allow Example.COM.:443", "deny *"},
     "www.example.com",
     443,
     {},
     false,
     "rule 2 of [policy]: \"deny *\""},
    // Port ranges: both edges in, one past each edge out.
    {{},
     {"allow *.example.com:8000-8080", "deny *"},
     "a.example.com",
     8000,
     {},
     true,
     "rule 1 of [policy]: \"allow *.example.com:8000-8080\""},
    {{},
     {"allow *.example.com:8000-8080", "deny *"},
     "a.example.com",
     8080,
     {},
     true,
     "rule 1 of [policy]: \"allow *.example.com:8000-8080\""},
    {{}, {"allow *.example.com:8000-8080", "deny *"}, "a.example.com", 7999, {}, false, kZone2},
    {{}, {"allow *.example.com:8000-8080", "deny *"}, "a.example.com", 8081, {}, false, kZone2},
    {{}, {"deny *:1-1023"}, "203.0.113.9", 1023, {}, false, "rule 1 of [policy]: \"deny *:1-1023\""},
    {{}, {"deny *:1-1023"}, "203.0.113.9", 1024, {}, true, kAllowAll},
    // The agent's own rules come before [policy].
    {{"allow *:22"},
     kSpec,
     "evil.com",
     22,
     {"203.0.113.5"},
     true,
     "rule 1 of agent \"alice\": \"allow *:22\""},
    {{"allow *:22"}, kSpec, "8.8.8.8", 22, {}, true, "rule 1 of agent \"alice\": \"allow *:22\""},
    {{"allow *:22"}, kSpec, "evil.com", 23, {}, false, kSpec3},
    {{"allow *:22"}, kSpec, "localhost", 22, {"127.0.0.1"}, false, kLoop},
    {{"deny *.example.com:22"},
     kZone,
     "git.example.com",
     22,
     {},
     false,
     "rule 1 of agent \"alice\": \"deny *.example.com:22\""},
    {{"deny *.example.com:22"}, kZone, "git.example.com", 443, {"93.184.216.34"}, true, kZone1},
    {{"allow 10.0.0.0/8:5432"},
     {"deny private", "allow *"},
     "10.1.2.3",
     5432,
     {},
     true,
     "rule 1 of agent \"alice\": \"allow 10.0.0.0/8:5432\""},
    {{"allow 10.0.0.0/8:5432"},
     {"deny private", "allow *"},
     "db.corp",
     5432,
     {"10.1.2.3"},
     true,
     "rule 2 of [policy]: \"allow *\""},
    {{"allow 10.0.0.0/8:5432"},
     {"deny private", "allow *"},
     "db.corp",
     5433,
     {"10.1.2.3"},
     false,
     "rule 1 of [policy]: \"deny private\""},
    // `allow *` does not open a literal loopback address: the address rules, built-in denies among them,
    // still apply; an explicit address allow anywhere before the built-ins opens it.
    {{}, {"allow *"}, "127.0.0.1", 80, {}, false, kLoop},
    {{}, {"allow *", "allow loopback:80"}, "127.0.0.1", 80, {}, true, "rule 1 of [policy]: \"allow *\""},
    {{},
     {"allow loopback:80", "allow *"},
     "127.0.0.1",
     80,
     {},
     true,
     "rule 1 of [policy]: \"allow loopback:80\""},
    {{}, {"deny loopback", "allow *"}, "127.0.0.1", 80, {}, false, "rule 1 of [policy]: \"deny loopback\""},
    {{}, {"allow *"}, "localhost", 80, {"127.0.0.1"}, false, kLoop},
};

// What the relay does: a literal is checked once; a name is checked, then every address it resolved to.
Decision evaluate(const Chain& chain, const Case& c) {
  if (const auto literal = parse_address(c.target)) return check_address(chain, *literal, c.port, false);
  auto d = check_name(chain, c.target, c.port);
  if (!d.allowed) return d;
  for (const auto& r : c.resolved) {
    const auto a = parse_address(r);
    REQUIRE(a);
    auto ad = check_address(chain, *a, c.port, true);
    if (!ad.allowed) return ad;
  }
  return d;
}

RuleSet must_parse(std::string source, const Rules& texts) {
  auto s = parse_rules(std::move(source), texts);
  REQUIRE(s);
  return std::move(*s);
}

}  // namespace

TEST_CASE("policy evaluation table", "[policy]") {
  REQUIRE(kCases.size() >= 40);
  for (std::size_t i = 0; i < kCases.size(); ++i) {
    const auto& c = kCases[i];
    INFO("case " << i << ": " << c.target << ":" << c.port);
    const auto agent = must_parse("agent \"alice\"", c.agent);
    const auto policy = must_parse("[policy]", c.policy);
    const auto d = evaluate(make_chain(&agent, &policy), c);
    CHECK(d.allowed == c.allowed);
    CHECK(d.text == c.text);
  }
}

TEST_CASE("policy: a name that is an IP literal is checked as that address", "[policy]") {
  const auto policy = must_parse("[policy]", kSpec);
  const auto chain = make_chain(nullptr, &policy);
  for (const char* literal : {"127.0.0.1", "198.51.100.7", "8.8.8.8", "::1", "::ffff:169.254.169.254"}) {
    INFO(literal);
    const auto by_name = check_name(chain, literal, 22);
    const auto by_address = check_address(chain, *parse_address(literal), 22, false);
    CHECK(by_name.allowed == by_address.allowed);
    CHECK(by_name.text == by_address.text);
  }
}

TEST_CASE("policy: invalid target names are denied", "[policy]") {
  const auto chain = make_chain(nullptr, nullptr);
  for (const std::string& name :
       {std::string(), std::string("a..b"), std::string("127.1"), std::string("2130706433"),
        std::string("0x7f.1"), std::string("[::1]"), std::string("a b"), std::string(300, 'a'),
        std::string("ex\0ample.com", 12)}) {
    INFO(name);
    const auto d = check_name(chain, name, 80);
    CHECK_FALSE(d.allowed);
    CHECK(d.text == "invalid host name");
  }
  CHECK(check_name(chain, "example.com", 80).allowed);
}

// docs/protocol.md 4.2: the wire takes 1..255 bytes; a DNS host name is at most 253 characters (and
// an optional trailing dot) in labels of 1..63. Past that the relay answers Denied, not a protocol error.
TEST_CASE("policy: host name length limits, as docs/protocol.md states them", "[policy][names]") {
  const auto chain = make_chain(nullptr, nullptr);
  const std::string l63(63, 'a');
  const std::string n253 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  REQUIRE(n253.size() == 253);
  CHECK(check_name(chain, n253, 80).allowed);
  CHECK(check_name(chain, n253 + ".", 80).allowed);  // 254 bytes: the fully qualified spelling
  for (const std::string& name : {n253 + "c", n253 + "cc", std::string(64, 'a') + ".example.com",
                                  std::string("host:80"), std::string("example.com:443")}) {
    INFO(name.size() << " bytes: " << name.substr(0, 20));
    const auto d = check_name(chain, name, 80);
    CHECK_FALSE(d.allowed);
    CHECK(d.text == "invalid host name");
  }
}

TEST_CASE("policy: built-in rules and chain edges", "[policy]") {
  const auto& b = builtin_rules();
  CHECK(b.builtin);
  CHECK(b.source == "built-in");
  std::vector<std::string> texts;
  for (const auto& r : b.rules) texts.push_back(to_string(r));
  CHECK((texts == Rules{"deny loopback", "deny self", "deny link-local", "deny multicast", "deny unspecified",
                        "allow *"}));
  CHECK(decision_text(b, 0) == "deny loopback (built-in)");

  const auto chain = make_chain(nullptr, nullptr);
  REQUIRE(chain.size() == 3);
  CHECK(chain.back() == &b);

  // Without the built-ins nothing guarantees a decision: no match denies, except for resolved addresses,
  // where the name's decision stands.
  const auto only = must_parse("[policy]", {"allow *.example.com"});
  const Chain bare{&only};
  CHECK((check_name(bare, "evil.com", 443).allowed == false &&
         check_name(bare, "evil.com", 443).text == "no rule matched"));
  CHECK_FALSE(check_address(bare, Address::v4({8, 8, 8, 8}), 443, false).allowed);
  const auto resolved = check_address(bare, Address::v4({8, 8, 8, 8}), 443, true);
  CHECK(resolved.allowed);
  CHECK(resolved.text == "no address rule matched");
  CHECK(check_address(chain, Address::v4({8, 8, 8, 8}), 443, true).text == "no address rule matched");
}

TEST_CASE("policy: decision text fits the link's reason field", "[policy]") {
  const std::string longname =
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + ".com";
  const auto agent = must_parse("agent \"" + std::string(100, 'x') + "\"", {"deny " + longname});
  const auto d = check_name(make_chain(&agent, nullptr), longname, 443);
  CHECK_FALSE(d.allowed);
  CHECK(d.text.size() <= kMaxDecisionChars);
  CHECK(d.text.ends_with("..."));
  CHECK(d.text.starts_with("rule 1 of agent \"xxx"));
}

TEST_CASE("policy: NAT64 and 6to4 addresses answer for the IPv4 host they reach", "[policy]") {
  const auto policy = must_parse("[policy]", {"deny private", "deny 198.51.100.7", "allow *"});
  const auto chain = make_chain(nullptr, &policy);
  // Through DNS64 an allowed name's AAAA record can point at a denied IPv4 host.
  for (const char* hidden :
       {"64:ff9b::10.0.0.5", "64:ff9b::a9fe:a9fe", "2002:c633:6407::1", "64:ff9b::127.0.0.1"}) {
    INFO(hidden);
    CHECK_FALSE(check_address(chain, *parse_address(hidden), 443, true).allowed);
    CHECK_FALSE(check_address(chain, *parse_address(hidden), 443, false).allowed);
    CHECK_FALSE(check_name(chain, hidden, 443).allowed);
  }
  CHECK(check_address(chain, *parse_address("64:ff9b::10.0.0.5"), 443, true).text ==
        "rule 1 of [policy]: \"deny private\"");
  CHECK(check_address(chain, *parse_address("64:ff9b::a9fe:a9fe"), 443, true).text ==
        "deny link-local (built-in)");
  // A public IPv4 host behind them stays reachable, and other IPv6 addresses are not touched.
  for (const char* fine : {"64:ff9b::8.8.8.8", "2002:0808:0808::1", "2001:db8::10.0.0.5"}) {
    INFO(fine);
    CHECK(check_address(chain, *parse_address(fine), 443, true).allowed);
  }
  // An explicit allow of the IPv6 literal stands; the IPv4 host behind it meets the address rules only
  // (a `deny *` does not take part there), so a public host stays reachable and a private one does not.
  const auto nat64 = must_parse("[policy]", {"allow 64:ff9b::/96", "deny *"});
  const auto chain64 = make_chain(nullptr, &nat64);
  CHECK(check_address(chain64, *parse_address("64:ff9b::8.8.8.8"), 443, false).allowed);
  CHECK_FALSE(check_address(chain64, *parse_address("64:ff9b::127.0.0.1"), 443, false).allowed);
  using V = std::vector<Address>;
  CHECK(parse_address("64:ff9b::10.0.0.5")->embedded_ipv4s() == V{Address::v4({10, 0, 0, 5})});
  CHECK(parse_address("2002:0a00:0005::9")->embedded_ipv4s() == V{Address::v4({10, 0, 0, 5})});
  CHECK(parse_address("2001:db8::1")->embedded_ipv4s().empty());
  CHECK(Address::v4({10, 0, 0, 5}).embedded_ipv4s().empty());
}

// RFC 8215's local-use prefix 64:ff9b:1::/48: an operator's NAT64 prefix of 48, 56, 64 or 96 bits
// inside it places the IPv4 address differently (RFC 6052 2.2); every placement is checked.
TEST_CASE("policy: NAT64's local-use prefix 64:ff9b:1::/48 answers for the IPv4 hosts it may reach",
          "[policy]") {
  const auto policy = must_parse("[policy]", {"deny private", "deny 198.51.100.7", "allow *"});
  const auto chain = make_chain(nullptr, &policy);
  for (const char* hidden : {"64:ff9b:1::10.0.0.5",        // a /96 prefix: the last 32 bits
                             "64:ff9b:1:0:a:0:500::",      // a /64 prefix: bits 72-103 (10.0.0.5)
                             "64:ff9b:1:c6:33:6407::",     // a /56 prefix: 198 | u | 51.100.7
                             "64:ff9b:1:7f00:0:1::",       // a /48 prefix: 127.0 | u | 0.1
                             "64:ff9b:1:ffff::7f00:1"}) {  // the /96 placement: 127.0.0.1
    INFO(hidden);
    CHECK_FALSE(check_address(chain, *parse_address(hidden), 443, true).allowed);
    CHECK_FALSE(check_name(chain, hidden, 443).allowed);
  }
  CHECK(check_address(chain, *parse_address("64:ff9b:1::8.8.8.8"), 443, true).allowed);
  CHECK(parse_address("64:ff9b:1::8.8.8.8")->embedded_ipv4s() == std::vector{Address::v4({8, 8, 8, 8})});
}

// The relay host's own addresses (the named set `self`, filled by the relay from its interfaces): with
// `allow *` a stream to its LAN or egress address reached sshd there. Denied as loopback is, unless an
// address rule allows it.
TEST_CASE("policy: the relay host's own addresses are denied unless an address rule allows one", "[policy]") {
  set_local_addresses({*parse_address("192.0.2.10"), *parse_address("2001:db8::10")});
  const auto open = must_parse("[policy]", {"allow *"});
  const auto chain = make_chain(nullptr, &open);
  for (const char* own : {"192.0.2.10", "2001:db8::10", "::ffff:192.0.2.10"}) {
    INFO(own);
    const auto d = check_address(chain, *parse_address(own), 22, false);
    CHECK_FALSE(d.allowed);
    CHECK(d.text == "deny self (built-in)");
    CHECK_FALSE(check_address(chain, *parse_address(own), 22, true).allowed);  // a name resolving to it
    CHECK_FALSE(check_name(chain, own, 22).allowed);
  }
  CHECK(check_address(chain, *parse_address("192.0.2.11"), 22, false).allowed);
  const auto explicit_allow = must_parse("[policy]", {"allow 192.0.2.10:443", "allow self:8443", "deny *"});
  const auto chain2 = make_chain(nullptr, &explicit_allow);
  CHECK(check_address(chain2, *parse_address("192.0.2.10"), 443, false).allowed);
  CHECK(check_address(chain2, *parse_address("2001:db8::10"), 8443, false).allowed);
  CHECK_FALSE(check_address(chain2, *parse_address("192.0.2.10"), 22, false).allowed);
  set_local_addresses({});  // the interfaces go: so does the rule's reach
  CHECK(check_address(chain, *parse_address("192.0.2.10"), 22, false).allowed);
}
