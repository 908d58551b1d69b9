// One policy rule: `allow PATTERN[:PORTS]` or `deny PATTERN[:PORTS]` (docs/spec.md 5).
//
//   rule     = action 1*" " pattern [":" ports]          nothing before, between or after but these
//   action   = "allow" / "deny"                          lower case, as docs/spec.md 5 writes them
//   pattern  = "*"                                       every name and every address
//            / "*." host-name                            names strictly below that name (see below)
//            / host-name                                 that one name (case-insensitive, final dot ignored)
//            / IPv4 / IPv6                               that one address (IPv6 in brackets before ":ports")
//            / IPv4 "/" len / IPv6 "/" len               a block; host bits must be zero
//            / "loopback" / "private" / "link-local" / "multicast" / "unspecified"   (see cidr.hpp)
//   ports    = "*" / N / N "-" M                         1 <= N <= M <= 65535; no ports means "*"
//
// `*.example.com` matches a.example.com and a.b.example.com but NOT example.com itself: a rule written
// for the hosts under a zone should not silently cover the zone's apex, which is often a different
// service. Write both rules when both are meant.
//
// A set keyword wins over a one-label host name of the same spelling; the host is written with its final
// dot ("allow private." means the host named "private"), and canonical text does the same, so that
// canonical text always parses back to the same rule.
//
// IPv6 with ports must be bracketed ("[2001:db8::1]:443", "[2001:db8::/32]:443"), because a bare
// "2001:db8::1:443" is itself a valid address. Text with two or more colons outside brackets is read as
// an unbracketed IPv6 address or block, without ports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy/address.hpp"
#include "common/policy/cidr.hpp"
#include "common/result.hpp"

namespace ferry::policy {

enum class Action : std::uint8_t { Allow, Deny };

struct PortRange {
  // "*" is 0..65535, so it also covers a (never dialable) port 0; written ranges are 1..65535.
  std::uint16_t lo = 0;
  std::uint16_t hi = 65535;

  bool any() const noexcept { return lo == 0 && hi == 65535; }
  bool contains(std::uint16_t port) const noexcept { return lo <= port && port <= hi; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct Pattern {
  enum class Kind : std::uint8_t { Any, Host, Suffix, Address, Cidr, Set };
  Kind kind = Kind::Any;
  std::string name;                   // Host: the normalised name; Suffix: the part after "*."
  Cidr block;                         // Address (prefix = full length) and Cidr; normalised
  NamedSet set = NamedSet::Loopback;  // Set only

  // Name patterns match target names only; address patterns match addresses only; Any matches both.
  bool is_name_pattern() const noexcept { return kind == Kind::Host || kind == Kind::Suffix; }
  bool is_address_pattern() const noexcept {
    return kind == Kind::Address || kind == Kind::Cidr || kind == Kind::Set;
  }
  // `name` must be normalised (host_name.hpp).
  bool matches_name(std::string_view name) const noexcept;
  // `a` must be normalised (Address::normalised).
  bool matches_address(const Address& a) const;
  friend bool operator==(const Pattern&, const Pattern&) = default;
};

struct Rule {
  Action action = Action::Deny;
  Pattern pattern;
  PortRange ports;
  friend bool operator==(const Rule&, const Rule&) = default;
};

// Parses one rule. Errors carry Errc::Config and a static message naming what is wrong.
Result<Rule> parse_rule(std::string_view text);

// Canonical text: lower case, one space, no final dot (but see the keyword note above), IPv4-mapped
// addresses as IPv4, IPv6 compressed per RFC 5952, ports omitted when "*". parse_rule(to_string(r)) == r.
std::string to_string(const Rule& r);

// The rules of one place in the configuration, in order, with where they came from.
struct RuleSet {
  std::string source;    // for messages: `[policy]`, `agent "alice-laptop"`, `built-in`
  bool builtin = false;  // decisions by built-in rules read "deny loopback (built-in)"
  std::vector<Rule> rules;
};

// The first rule that did not parse, for a configuration error message.
struct RuleError {
  std::size_t index = 0;  // 0-based position in the list
  std::string text;       // the rule as written
  Error error{Errc::Config};
  // `rule 2 "allow foo:0": port must be 1..65535`: 1-based, text quoted with control bytes escaped.
  std::string message() const;
};

// Parses every rule of one list. On failure returns the static Error of the first bad rule and, when
// `first_error` is given, fills it with that rule's index and text: Error::what is static text by design
// (result.hpp), so the position and the rule travel beside it.
Result<RuleSet> parse_rules(std::string source, const std::vector<std::string>& texts,
                            RuleError* first_error = nullptr);

}  // namespace ferry::policy
