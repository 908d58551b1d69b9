// Rule grammar, addresses, blocks and host names: what parses, what is refused and with which message,
// and the canonical text that every valid rule round-trips through.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "common/policy/address.hpp"
#include "common/policy/cidr.hpp"
#include "common/policy/host_name.hpp"
#include "common/policy/rule.hpp"

using namespace ferry;
using namespace ferry::policy;

namespace {

struct Invalid {
  std::string text;
  const char* fragment;  // part of the expected error message
};

const std::vector<Invalid> kInvalid = {
    {"", "empty rule"},
    {"allow", "missing pattern after the action"},
    {"allow ", "missing pattern after the action"},
    {"deny    ", "missing pattern after the action"},
    {"permit *", "must start with \"allow\" or \"deny\""},
    {"Allow *", "must start with \"allow\" or \"deny\""},
    {" allow *", "whitespace before the action"},
    {"\tdeny *", "whitespace before the action"},
    {"allow\t*", "separated by spaces"},
    {"allow*", "separated by spaces"},
    {"allow * ", "unexpected text after the pattern"},
    {"allow a.example.com b.example.com", "unexpected text after the pattern"},
    {"allow *\n", "unexpected text after the pattern"},
    {"allow *:0", "port must be 1..65535"},
    {"allow *:65536", "port must be 1..65535"},
    {"allow *:99999999999999999999", "port must be 1..65535"},
    {"allow *:", "ports must be *, N or N-M"},
    {"allow *:http", "ports must be *, N or N-M"},
    {"allow *:+5", "ports must be *, N or N-M"},
    {"allow *:1-", "ports must be *, N or N-M"},
    {"allow *:-5", "ports must be *, N or N-M"},
    {"allow *:1-2-3", "ports must be *, N or N-M"},
    {"allow *:443-80", "N <= M"},
    {"allow 10.0.0.1/8", "host bits set"},
    {"allow 2001:db8::1/32", "host bits set"},
    {"allow 10.0.0.0/33", "prefix length too long"},
    {"allow [2001:db8::/129]", "prefix length too long"},
    {"allow 10.0.0.0/", "prefix length must be a decimal number"},
    {"allow 10.0.0.0/08", "prefix length must be a decimal number"},
    {"allow 10.0.0.0/8/9", "prefix length must be a decimal number"},
    {"deny loopback/8", "invalid address before the /"},
    {"allow 10.0.0.256", "invalid IPv4 address"},
    {"allow 127.1", "invalid IPv4 address"},
    {"allow 010.0.0.1", "invalid IPv4 address"},
    {"allow 2130706433", "invalid IPv4 address"},
    {"allow 2001:db8:::1", "invalid IPv6 address"},
    {"allow fe80::1%eth0", "invalid IPv6 address"},
    {"allow [2001:db8::1", "without a closing ']'"},
    {"allow [10.0.0.1]:80", "brackets are only for IPv6"},
    {"allow []", "brackets are only for IPv6"},
    {"allow [::1]x", "unexpected text after ']'"},
    {"allow *.*.example.com", "'*' may only be"},
    {"allow a*.example.com", "'*' may only be"},
    {"allow **", "'*' may only be"},
    {"allow *.", "empty host name"},
    {"allow exa!mple.com", "may hold only letters"},
    {std::string("allow exa\0mple.com", 18), "may hold only letters"},
    {"allow a..b", "label must be 1..63"},
    {"allow ..", "label must be 1..63"},
    {"allow " + std::string(64, 'a') + ".com", "label must be 1..63"},
    {"allow " + std::string(250, 'a').insert(60, ".").insert(120, ".").insert(180, ".") + ".com",
     "longer than 253"},
    {"allow *.10", "numeric last label"},
    {"allow " + std::string(600, 'a'), "longer than 512"},
};

struct Valid {
  std::string text;
  std::string canonical;
};

const std::vector<Valid> kValid = {
    {"allow *", "allow *"},
    {"deny   *", "deny *"},
    {"allow *:*", "allow *"},
    {"allow *:22", "allow *:22"},
    {"allow *:0443", "allow *:443"},
    {"allow *:1-65535", "allow *:1-65535"},
    {"allow *:5-5", "allow *:5"},
    {"allow localhost", "allow localhost"},
    {"allow Example.COM.", "allow example.com"},
    {"allow *.Staging.Example.com:443", "allow *.staging.example.com:443"},
    {"allow _acme-challenge.example.com", "allow _acme-challenge.example.com"},
    {"allow 198.51.100.0/24", "allow 198.51.100.0/24"},
    {"allow 10.0.0.0/8:1-1024", "allow 10.0.0.0/8:1-1024"},
    {"allow 0.0.0.0/0", "allow 0.0.0.0/0"},
    {"allow 192.0.2.1:80", "allow 192.0.2.1:80"},
    {"deny 2001:DB8::1", "deny 2001:db8::1"},
    {"deny [2001:db8::1]", "deny 2001:db8::1"},
    {"deny [2001:db8:0:0::1]:443", "deny [2001:db8::1]:443"},
    {"deny 2001:db8::/32", "deny 2001:db8::/32"},
    {"deny [2001:db8::/32]:443", "deny [2001:db8::/32]:443"},
    {"allow ::/0", "allow ::/0"},
    {"allow ::1", "allow ::1"},
    {"allow [::1]:22", "allow [::1]:22"},
    {"deny ::", "deny ::"},
    {"allow [::ffff:127.0.0.1]:8080", "allow 127.0.0.1:8080"},
    {"allow ::ffff:7f00:1", "allow 127.0.0.1"},
    {"allow ::7f00:1", "allow 127.0.0.1"},
    {"deny [::ffff:0:0/96]", "deny 0.0.0.0/0"},
    {"deny [::ffff:10.0.0.0/104]:22", "deny 10.0.0.0/8:22"},
    {"deny LOOPBACK", "deny loopback"},
    {"deny link-local:80", "deny link-local:80"},
    {"deny multicast", "deny multicast"},
    {"deny unspecified", "deny unspecified"},
    {"deny private:1-1024", "deny private:1-1024"},
    {"allow private.", "allow private."},
    {"allow Loopback.:22", "allow loopback.:22"},
};

}  // namespace

TEST_CASE("policy rules: invalid text is refused with a message naming the fault", "[policy]") {
  REQUIRE(kInvalid.size() >= 20);
  for (const auto& c : kInvalid) {
    INFO("rule: " << c.text);
    const auto r = parse_rule(c.text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Config);
    CHECK_THAT(std::string(r.error().what), Catch::Contains(c.fragment));
  }
}

TEST_CASE("policy rules: valid text round-trips through canonical text", "[policy]") {
  for (const auto& c : kValid) {
    INFO("rule: " << c.text);
    const auto r = parse_rule(c.text);
    REQUIRE(r);
    CHECK(to_string(*r) == c.canonical);
    const auto again = parse_rule(to_string(*r));
    REQUIRE(again);
    CHECK((*again == *r));
  }
}

TEST_CASE("policy rules: parts of a parsed rule", "[policy]") {
  auto r = parse_rule("deny [2001:db8::/32]:443-444");
  REQUIRE(r);
  CHECK(r->action == Action::Deny);
  CHECK(r->pattern.kind == Pattern::Kind::Cidr);
  CHECK(r->pattern.block.prefix == 32);
  CHECK((r->ports == PortRange{443, 444}));
  r = parse_rule("allow *.example.com");
  REQUIRE(r);
  CHECK(r->pattern.kind == Pattern::Kind::Suffix);
  CHECK(r->pattern.name == "example.com");
  CHECK(r->ports.any());
  r = parse_rule("allow private.");
  REQUIRE(r);
  CHECK(r->pattern.kind == Pattern::Kind::Host);
  r = parse_rule("allow private");
  REQUIRE(r);
  CHECK(r->pattern.kind == Pattern::Kind::Set);
  CHECK(r->pattern.set == NamedSet::Private);
}

TEST_CASE("policy rules: a list reports the first bad rule with its position and text", "[policy]") {
  RuleError err;
  const auto set = parse_rules("[policy]", {"allow *.example.com", "deny *:0", "bogus"}, &err);
  REQUIRE_FALSE(set);
  CHECK(set.error().code == Errc::Config);
  CHECK(err.index == 1);
  CHECK(err.text == "deny *:0");
  CHECK(err.message() == "rule 2 \"deny *:0\": port must be 1..65535");

  const auto ctl = parse_rules("[policy]", {"allow \x01\"x"}, &err);
  REQUIRE_FALSE(ctl);
  CHECK(err.message() ==
        "rule 1 \"allow \\x01\\x22x\": host name may hold only letters, digits, '-', '_' and '.'");

  const auto ok = parse_rules("agent \"alice\"", {"allow *:22", "deny *"});
  REQUIRE(ok);
  CHECK(ok->source == "agent \"alice\"");
  CHECK_FALSE(ok->builtin);
  CHECK(ok->rules.size() == 2);
  CHECK(parse_rules("[policy]", {})->rules.empty());
}

TEST_CASE("policy addresses: strict parsing", "[policy]") {
  for (const char* good : {"0.0.0.0", "255.255.255.255", "192.0.2.1", "::", "::1", "2001:db8::1",
                           "::ffff:192.0.2.1", "FE80::1", "1:2:3:4:5:6:7:8"})
    CHECK(parse_address(good));
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1.1.1.1 ", " 1.1.1.1", "0x7f.0.0.1", "1..1.1",
        "1.1.1.", "::g", "1:2:3:4:5:6:7:8:9", "[::1]", "fe80::1%1", "example.com", "+1.1.1.1"})
    CHECK_FALSE(parse_address(bad));
  CHECK(parse_address("192.0.2.1")->to_string() == "192.0.2.1");
  CHECK(parse_address("2001:0db8:0000::0001")->to_string() == "2001:db8::1");
}

TEST_CASE("policy addresses: mapped and compatible IPv6 normalise to IPv4", "[policy]") {
  const auto v4 = Address::v4({127, 0, 0, 1});
  CHECK((parse_address("::ffff:127.0.0.1")->normalised() == v4));
  CHECK((parse_address("::ffff:7f00:1")->normalised() == v4));
  CHECK((parse_address("::127.0.0.1")->normalised() == v4));
  CHECK((parse_address("::ffff:169.254.169.254")->normalised() == Address::v4({169, 254, 169, 254})));
  CHECK((parse_address("::ffff:0.0.0.0")->normalised() == Address::v4({0, 0, 0, 0})));
  for (const char* stays : {"::", "::1", "2001:db8::1", "64:ff9b::7f00:1", "::fffe:7f00:1", "::1:0:0:1"}) {
    const auto a = *parse_address(stays);
    CHECK((a.normalised() == a));
  }
  CHECK((v4.normalised() == v4));
}

TEST_CASE("policy addresses: sockaddr and Target conversions", "[policy]") {
  sockaddr_storage ss{};
  const auto a6 = *parse_address("2001:db8::7");
  REQUIRE(a6.to_sockaddr(443, ss) == sizeof(sockaddr_in6));
  sockaddr_in6 in6{};
  std::memcpy(&in6, &ss, sizeof in6);
  CHECK(in6.sin6_family == AF_INET6);
  CHECK(ntohs(in6.sin6_port) == 443);
  CHECK((Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)) == a6));

  const auto a4 = Address::v4({198, 51, 100, 7});
  REQUIRE(a4.to_sockaddr(22, ss) == sizeof(sockaddr_in));
  sockaddr_in in{};
  std::memcpy(&in, &ss, sizeof in);
  CHECK(in.sin_family == AF_INET);
  CHECK(ntohs(in.sin_port) == 22);
  CHECK(in.sin_addr.s_addr == htonl(0xc6336407));
  CHECK((Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)) == a4));

  sockaddr_storage unix_addr{};
  unix_addr.ss_family = AF_UNIX;
  CHECK_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&unix_addr)));
  CHECK_FALSE(Address::from_sockaddr(nullptr));

  CHECK((Address::from_target(Target::ipv4({198, 51, 100, 7}, 22)) == a4));
  CHECK((Address::from_target(a6.to_target(443)) == a6));
  CHECK((a4.to_target(22) == Target::ipv4({198, 51, 100, 7}, 22)));
  CHECK_FALSE(Address::from_target(Target::host("example.com", 443)));
}

TEST_CASE("policy blocks: containment at the prefix edge and named sets", "[policy]") {
  const auto c = *parse_cidr("172.16.0.0/12");
  CHECK(c.contains(Address::v4({172, 16, 0, 0})));
  CHECK(c.contains(Address::v4({172, 31, 255, 255})));
  CHECK_FALSE(c.contains(Address::v4({172, 32, 0, 0})));
  CHECK_FALSE(c.contains(Address::v4({172, 15, 255, 255})));
  CHECK_FALSE(c.contains(*parse_address("::ffff:172.16.0.1")));  // callers normalise first
  const auto all = *parse_cidr("0.0.0.0/0");
  CHECK(all.contains(Address::v4({8, 8, 8, 8})));
  CHECK_FALSE(all.contains(*parse_address("2001:db8::1")));
  CHECK(parse_cidr("fe80::/10")->contains(*parse_address("febf::1")));
  CHECK_FALSE(parse_cidr("fe80::/10")->contains(*parse_address("fec0::1")));
  CHECK(parse_cidr("2001:db8::1/128")->contains(*parse_address("2001:db8::1")));

  CHECK(named_set_contains(NamedSet::LinkLocal, Address::v4({169, 254, 169, 254})));
  CHECK(named_set_contains(NamedSet::Multicast, Address::v4({255, 255, 255, 255})));
  CHECK(named_set_contains(NamedSet::Multicast, *parse_address("ff02::1")));
  CHECK(named_set_contains(NamedSet::Private, *parse_address("fd12::1")));
  CHECK(named_set_contains(NamedSet::Unspecified, Address::v4({0, 1, 2, 3})));
  CHECK_FALSE(named_set_contains(NamedSet::Unspecified, *parse_address("::2")));
  CHECK_FALSE(named_set_contains(NamedSet::Loopback, Address::v4({128, 0, 0, 1})));
  CHECK(std::string(named_set_name(NamedSet::LinkLocal)) == "link-local");
  CHECK(parse_named_set("Link-Local") == NamedSet::LinkLocal);
  CHECK_FALSE(parse_named_set("linklocal"));
}

TEST_CASE("policy host names: one spelling, label-boundary suffixes", "[policy]") {
  CHECK(*normalise_host_name("WWW.Example.COM.") == "www.example.com");
  CHECK(*normalise_host_name(std::string(63, 'a') + ".com") == std::string(63, 'a') + ".com");
  std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                        std::string(61, 'd');
  REQUIRE(longest.size() == 253);
  CHECK(normalise_host_name(longest));
  CHECK(normalise_host_name(longest + "."));
  CHECK_FALSE(normalise_host_name(longest + "d"));
  CHECK_FALSE(normalise_host_name("."));
  CHECK_FALSE(normalise_host_name("a.."));
  CHECK_FALSE(normalise_host_name(".a"));
  CHECK_FALSE(normalise_host_name("1.2.3.4"));
  CHECK(normalise_host_name("1.2.3.x"));

  CHECK(has_label_suffix("a.example.com", "example.com"));
  CHECK(has_label_suffix("a.b.example.com", "example.com"));
  CHECK_FALSE(has_label_suffix("example.com", "example.com"));
  CHECK_FALSE(has_label_suffix("badexample.com", "example.com"));
  CHECK_FALSE(has_label_suffix("com", "example.com"));
}
