// The relay's destination policy: which targets an agent may reach. Pure functions over parsed rules;
// the relay resolves names and dials, this file only decides.
//
// A CHAIN is an ordered list of rule sets. The relay builds it per agent with make_chain():
//   1. the agent's own rules      ([[agents]] rules; source `agent "alice-laptop"`)
//   2. the [policy] rules         (source `[policy]`)
//   3. the built-in rules         (source `built-in`):
//        deny loopback, deny self, deny link-local, deny multicast, deny unspecified, allow *
// Within the chain the first rule that matches decides ("first match wins", like a firewall), so an
// agent's rules can widen or narrow what [policy] says for that agent alone, and anything the
// configuration does not mention falls through to the built-ins.
//
// A stream is checked in up to two steps, because a target is a name or an address:
//
//   check_name(chain, name, port)              before resolution, for a target given as a name.
//     Only NAME patterns (`host.name`, `*.suffix`) and `*` take part: an address pattern cannot match a
//     name. The first of those whose pattern matches and whose ports contain `port` decides. The built-in
//     `allow *` guarantees a decision. (A name that is an IP literal, "127.0.0.1" or "::1", is checked as
//     that address instead, with resolved_from_name = false, so an address does not escape address rules
//     by arriving as text.)
//
//   check_address(chain, address, port, resolved_from_name)
//     The address is normalised first (IPv4-mapped ::ffff:a.b.c.d is a.b.c.d; see address.hpp).
//     - An IP literal target (resolved_from_name = false): ADDRESS patterns (IP, CIDR, named set) and `*`
//       take part; the first match decides.
//     - Each address a name resolved to (resolved_from_name = true): ONLY address patterns take part, not
//       `*` and not name patterns. The first match decides; when none matches the address is allowed,
//       because the name's own decision stands.
//
// Why resolved addresses ignore `*` and name rules: the name was already allowed by some rule, possibly
// `allow *` or `allow *.example.com`, and that rule says nothing about where the name may point. If `*`
// took part, the first `allow *` (written or built-in) would wave every address through and a name that
// resolves to 127.0.0.1 or 169.254.169.254 (DNS rebinding) would reach it. With only address patterns
// taking part, the built-in denies for loopback, link-local, multicast and unspecified always apply to a
// resolved address unless an earlier, explicit address rule allowed that very address. Hence docs/spec.md 5's
// promise: a name that is allowed can never reach an address that a rule denies; `allow localhost` does
// not reach 127.0.0.1, while `allow 127.0.0.1:8080` reaches it on port 8080 as a literal or as the
// address of a name. A caller that dials several resolved addresses checks each of them.
//
// The same holds for IP literals: when the first match for a literal is an `allow *` (written, or the
// built-in one), the address patterns are consulted as for a resolved address, and a deny there wins.
// So `allow *` or `allow *:22` never opens a literal 127.0.0.1 or 169.254.169.254; only an explicit
// address rule (`allow 127.0.0.1:8080`, `allow loopback:8080`) does.
//
// A Decision says allowed or not, and which rule decided, in text that is shown to users (HTTP 403 body,
// SOCKS logs, the OPEN_RESULT reason): `deny loopback (built-in)`, `rule 3 of [policy]: "deny *"`,
// `rule 1 of agent "alice": "allow *:22"`. It holds the rule's canonical text and its place only, never
// the target or anything else from the request, so it cannot be used to reflect input back to a client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy/address.hpp"
#include "common/policy/rule.hpp"

namespace ferry::policy {

// Longest decision text: the link's OPEN_RESULT reason holds at most 255 bytes, so longer text (a long
// name rule from an agent with a long name) is cut and ends in "...".
inline constexpr std::size_t kMaxDecisionChars = 255;

struct Decision {
  bool allowed = false;
  std::string text;  // never empty
};

// Sets in evaluation order. Null entries are skipped. The pointed-to sets must outlive the chain.
using Chain = std::vector<const RuleSet*>;

// deny loopback, deny self, deny link-local, deny multicast, deny unspecified, allow *.
const RuleSet& builtin_rules();

// agent (may be null: an agent without rules), policy (may be null), then builtin_rules().
Chain make_chain(const RuleSet* agent, const RuleSet* policy);

// See above. An invalid name (host_name.hpp grammar) is denied with the text "invalid host name".
// A chain without the built-ins that matches nothing denies with "no rule matched" (fail closed).
Decision check_name(const Chain& chain, std::string_view name, std::uint16_t port);

// See above. With resolved_from_name and no matching address rule, the result is allowed with the text
// "no address rule matched": the caller reports the name's decision instead.
Decision check_address(const Chain& chain, const Address& address, std::uint16_t port,
                       bool resolved_from_name);

// The decision text for rule `index` (0-based) of `set`.
std::string decision_text(const RuleSet& set, std::size_t index);

}  // namespace ferry::policy
