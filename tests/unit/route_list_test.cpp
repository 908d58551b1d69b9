// Routes (common/routes/route_list.hpp) and the PAC file made from them (agent/pac_file.hpp).
#include "common/routes/route_list.hpp"

#include <catch2/catch.hpp>

#include "agent/pac_file.hpp"
#include "agent/split_routing.hpp"

using namespace ferry;

TEST_CASE("routes: names, names below, addresses and networks, in canonical text", "[routes]") {
  struct Case {
    const char* text;
    const char* canonical;
  } ok[] = {
      {"Staging.Example.COM.", "staging.example.com"},
      {"*.corp.example.com", "*.corp.example.com"},
      {"198.51.100.0/24", "198.51.100.0/24"},
      {"198.51.100.7", "198.51.100.7"},
      {"2001:DB8:0::/32", "2001:db8::/32"},
  };
  for (const auto& c : ok) {
    INFO(c.text);
    auto r = routes::parse_route(c.text);
    REQUIRE(r);
    CHECK(r->text == c.canonical);
  }
  struct Bad {
    const char* text;
    const char* why;
  } bad[] = {
      {"", "a route is a name"}, {"*", "every target"},
      {"private", "not a set"},  {"intranet.corp:443", "no port"},
      {"198.51.100.1/24", ""},  // host bits set: the policy grammar's own message
      {"a b", "no spaces"},      {"a..example", ""},
  };
  for (const auto& b : bad) {
    INFO(b.text);
    auto r = routes::parse_route(b.text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().what, Catch::Contains(b.why));
  }
  std::string why;
  CHECK_FALSE(routes::parse_routes({"a.example", "b.example:80"}, &why));
  CHECK(why == "entry 2 \"b.example:80\": a route has no port: it names where, not which port");
}

TEST_CASE("routes: the version follows the meaning, not the spelling", "[routes]") {
  auto list = [](std::vector<std::string> texts) {
    return routes::version_of(*routes::parse_routes(texts, nullptr));
  };
  CHECK(list({"a.example", "10.0.0.0/8"}) == list({"A.Example.", "10.0.0.0/8"}));
  CHECK(list({"a.example", "10.0.0.0/8"}) != list({"10.0.0.0/8", "a.example"}));
  CHECK(list({"ab.example"}) != list({"a.example"}));
  CHECK(list({}) != 0);
}

TEST_CASE("routes: the published version follows the policy too, and only with one is it different",
          "[routes]") {
  const auto routes = *routes::parse_routes({"a.example", "10.0.0.0/8"}, nullptr);
  const std::vector<std::string> policy{"[policy]", "deny b.example", "allow *"};
  // No policy: the list's own version, as agents of before computed and docs/protocol.md 4.14 shows.
  CHECK(routes::version_of(routes, {}) == routes::version_of(routes));
  CHECK(routes::version_of(routes, policy) != routes::version_of(routes));
  CHECK(routes::version_of(routes, policy) == routes::version_of(routes, policy));  // a reload, same rules
  CHECK(routes::version_of(routes, policy) !=
        routes::version_of(routes, {"[policy]", "deny b.example", "deny c.example", "allow *"}));
  CHECK(routes::version_of(routes, policy) !=
        routes::version_of(routes, {"[policy]", "allow *", "deny b.example"}));
  // The routes end before the rules: moving a text from one side to the other changes the version.
  const auto fewer = *routes::parse_routes({"a.example"}, nullptr);
  CHECK(routes::version_of(fewer, {"10.0.0.0/8"}) != routes::version_of(routes));
  CHECK(routes::version_of({}, policy) != 0);
}

TEST_CASE("routes: a target is routed by name or by address literal, never by resolving", "[routes]") {
  auto routes = *routes::parse_routes(
      {"*.corp.example.com", "staging.example.com", "198.51.100.0/24", "2001:db8::/32"}, nullptr);
  CHECK(routes::routes_through(routes, Target::host("db.corp.example.com", 5432)));
  CHECK(routes::routes_through(routes, Target::host("STAGING.example.com.", 443)));
  CHECK_FALSE(routes::routes_through(routes, Target::host("corp.example.com", 443)));
  CHECK_FALSE(routes::routes_through(routes, Target::host("example.org", 443)));
  CHECK(routes::routes_through(routes, Target::ipv4({198, 51, 100, 9}, 22)));
  CHECK_FALSE(routes::routes_through(routes, Target::ipv4({198, 51, 101, 9}, 22)));
  std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
  CHECK(routes::routes_through(routes, Target::ipv6(v6, 443)));
  std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9};
  CHECK(routes::routes_through(routes, Target::ipv6(mapped, 443)));
}

TEST_CASE("PAC: the lists it carries and the proxy it names; no DIRECT for a listed target",
          "[routes][pac]") {
  auto routes = *routes::parse_routes(
      {"*.corp.example.com", "staging.example.com", "198.51.100.0/24", "2001:db8::/32"}, nullptr);
  const std::string proxy = agent::pac_proxy("127.0.0.1:8080", "127.0.0.1:1080");
  CHECK(proxy == "PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080");
  CHECK(agent::pac_proxy("", "127.0.0.1:1080") == "SOCKS5 127.0.0.1:1080");
  const std::string pac = agent::pac_file(routes, proxy, 0x3f2a9c01);
  CHECK_THAT(pac, Catch::Contains("(version 3f2a9c01)"));
  CHECK_THAT(pac, Catch::Contains("var FERRY_PROXY = \"PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080\";"));
  CHECK_THAT(pac, Catch::Contains("var FERRY_NAMES = [\"staging.example.com\"];"));
  CHECK_THAT(pac, Catch::Contains("var FERRY_BELOW = [\".corp.example.com\"];"));
  CHECK_THAT(pac, Catch::Contains("var FERRY_NETS4 = [[3325256704, 24]];"));
  CHECK_THAT(pac, Catch::Contains("var FERRY_NETS6 = [[\"20010db8000000000000000000000000\", 32]];"));
  CHECK_THAT(pac, Catch::Contains("function FindProxyForURL(url, host)"));
  CHECK_THAT(pac, !Catch::Contains("dnsResolve"));
  CHECK_THAT(pac, !Catch::Contains("isInNet"));
  CHECK_THAT(pac, !Catch::Contains("; DIRECT"));  // fails closed
  const std::string none = agent::pac_file({}, proxy, 0);
  CHECK_THAT(none, Catch::Contains("var FERRY_NAMES = [];"));
}

TEST_CASE("split mode: listed targets through the office, the rest direct, nothing direct before the routes",
          "[routes][split]") {
  const routes::RouteList relay{
      routes::version_of(*routes::parse_routes({"*.corp.example.com", "198.51.100.0/24"}, nullptr)),
      *routes::parse_routes({"*.corp.example.com", "198.51.100.0/24"}, nullptr)};
  const auto own = *routes::parse_routes({"wiki.example.org"}, nullptr);
  const Target listed = Target::host("git.corp.example.com", 443);
  const Target mine = Target::host("WIKI.example.org", 443);
  const Target outside = Target::host("example.net", 443);
  const Target in_network = Target::ipv4({198, 51, 100, 7}, 22);
  const Target beside_network = Target::ipv4({198, 51, 101, 7}, 22);

  // Off (the default): everything through the office.
  for (const Target& t : {listed, mine, outside, in_network, beside_network})
    CHECK_FALSE(agent::goes_direct(false, relay, own, t));
  // On: listed by the relay or by agent.toml through the office, the rest direct.
  CHECK_FALSE(agent::goes_direct(true, relay, own, listed));
  CHECK_FALSE(agent::goes_direct(true, relay, own, mine));
  CHECK_FALSE(agent::goes_direct(true, relay, own, in_network));
  CHECK(agent::goes_direct(true, relay, own, outside));
  CHECK(agent::goes_direct(true, relay, own, beside_network));
  // Fails closed: no routes from the relay yet (version 0), nothing goes direct, not even with own ones.
  const routes::RouteList none;
  for (const Target& t : {listed, mine, outside, in_network, beside_network})
    CHECK_FALSE(agent::goes_direct(true, none, own, t));
  // A relay that routes nothing (an empty list, pushed): everything but agent.toml's own goes direct.
  const routes::RouteList empty{routes::version_of({}), {}};
  CHECK(agent::goes_direct(true, empty, own, listed));
  CHECK_FALSE(agent::goes_direct(true, empty, own, mine));
}
