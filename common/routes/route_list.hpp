// Routes: the names and networks whose traffic should go through the office (relay.toml
// `[routes] through`, agent.toml `[routes] extra`). Everything else may go directly. The relay pushes
// its list to each agent (docs/protocol.md 4.14, ROUTES), and the agent turns the union into a PAC
// file (agent/pac_file.hpp).
//
//   route  = host-name               that name (case-insensitive, final dot ignored)
//          / "*." host-name          the names strictly below it (not the name itself)
//          / IPv4 / IPv6             that address
//          / IPv4 "/" len / IPv6 "/" len    a network; host bits must be zero
//
// The grammar is the policy rules' pattern (common/policy/rule.hpp) without ports, "*" or the named
// sets: a route names where a stream goes, not which port it may use. Canonical text is the policy's
// too, so a list compares (and is versioned) by what it means, not how it was spelt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy/rule.hpp"
#include "common/result.hpp"

namespace ferry::routes {

// A relay pushes at most this many (a ROUTES frame holds them with room to spare).
inline constexpr std::size_t kMaxRoutes = 1000;

struct Route {
  policy::Pattern pattern;  // Host, Suffix, Address or Cidr
  std::string text;         // canonical: "*.corp.example.com", "198.51.100.0/24"
  friend bool operator==(const Route&, const Route&) = default;
};

// Errors carry Errc::Config and a static message naming what is wrong.
Result<Route> parse_route(std::string_view text);

// A route list with its version: the relay's, pushed to agents, or the agent's union with its own.
struct RouteList {
  std::uint32_t version = 0;  // 0: none received
  std::vector<Route> routes;
};

// The version of a list: a hash of its canonical texts in order, so that a reload which changes
// nothing keeps the version, and a relay restart with the same list does too. Never 0.
std::uint32_t version_of(const std::vector<Route>& routes);
// The version a relay publishes: the list's, with `policy` folded in (the texts that decide which
// targets it dials, in a fixed order), so that a reload which changes either changes the version.
// An agent answers early only for targets reached under the version it holds now (warm_targets.hpp):
// a target a new deny rule names must not be told "connected" first. No policy: version_of(routes).
std::uint32_t version_of(const std::vector<Route>& routes, const std::vector<std::string>& policy);

// Parses every entry of a configuration list; the first bad one is reported as
// `entry 2 "x:80": a route has no port` in `error`.
Result<std::vector<Route>> parse_routes(const std::vector<std::string>& texts, std::string* error);

// Does a stream's target fall under the list? A name matches name routes only, an address (an IP
// literal the client sent) network routes only: the agent never resolves a name to decide.
bool routes_through(const std::vector<Route>& routes, const Target& target);

}  // namespace ferry::routes
