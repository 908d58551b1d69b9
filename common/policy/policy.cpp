#include "common/policy/policy.hpp"

#include <optional>

#include "common/policy/host_name.hpp"

namespace ferry::policy {
namespace {

Rule builtin(Action action, Pattern::Kind kind, NamedSet set) {
  Rule r;
  r.action = action;
  r.pattern.kind = kind;
  r.pattern.set = set;
  return r;
}

RuleSet make_builtin_rules() {
  RuleSet s;
  s.source = "built-in";
  s.builtin = true;
  for (const auto set :
       {NamedSet::Loopback, NamedSet::Self, NamedSet::LinkLocal, NamedSet::Multicast, NamedSet::Unspecified})
    s.rules.push_back(builtin(Action::Deny, Pattern::Kind::Set, set));
  s.rules.push_back(builtin(Action::Allow, Pattern::Kind::Any, NamedSet::Loopback));
  return s;
}

// Which patterns take part in one kind of check (see policy.hpp).
enum class Scope : std::uint8_t { Name, Literal, Resolved };

bool takes_part(const Pattern& p, Scope scope) {
  switch (scope) {
    case Scope::Name:
      return p.is_name_pattern() || p.kind == Pattern::Kind::Any;
    case Scope::Literal:
      return p.is_address_pattern() || p.kind == Pattern::Kind::Any;
    case Scope::Resolved:
      return p.is_address_pattern();
  }
  return false;
}

struct Match {
  Decision decision;
  bool by_any;  // the deciding rule's pattern was `*`
};

// Walks the chain in order and returns the first rule in `scope` for which `matches` holds.
template <class Matches>
std::optional<Match> first_match(const Chain& chain, Scope scope, std::uint16_t port, Matches matches) {
  for (const RuleSet* set : chain) {
    if (set == nullptr) continue;
    for (std::size_t i = 0; i < set->rules.size(); ++i) {
      const Rule& r = set->rules[i];
      if (takes_part(r.pattern, scope) && r.ports.contains(port) && matches(r.pattern))
        return Match{Decision{r.action == Action::Allow, decision_text(*set, i)},
                     r.pattern.kind == Pattern::Kind::Any};
    }
  }
  return std::nullopt;
}

}  // namespace

const RuleSet& builtin_rules() {
  static const RuleSet rules = make_builtin_rules();  // immutable once built; thread-safe initialisation
  return rules;
}

Chain make_chain(const RuleSet* agent, const RuleSet* policy) {
  return Chain{agent, policy, &builtin_rules()};
}

std::string decision_text(const RuleSet& set, std::size_t index) {
  const std::string rule = to_string(set.rules.at(index));
  std::string text = set.builtin
                         ? rule + " (built-in)"
                         : "rule " + std::to_string(index + 1) + " of " + set.source + ": \"" + rule + "\"";
  if (text.size() > kMaxDecisionChars) {
    text.resize(kMaxDecisionChars - 3);
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80)
      text.pop_back();                                                                      // UTF-8
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xc0) text.pop_back();  // a lead byte
    text += "...";
  }
  return text;
}

Decision check_name(const Chain& chain, std::string_view name, std::uint16_t port) {
  if (const auto literal = parse_address(name)) return check_address(chain, *literal, port, false);
  const auto normal = normalise_host_name(name);
  if (!normal) return Decision{false, "invalid host name"};
  auto d = first_match(chain, Scope::Name, port, [&](const Pattern& p) { return p.matches_name(*normal); });
  return d ? std::move(d->decision) : Decision{false, "no rule matched"};
}

namespace {

Decision check_one_address(const Chain& chain, const Address& a, std::uint16_t port,
                           bool resolved_from_name) {
  const Scope scope = resolved_from_name ? Scope::Resolved : Scope::Literal;
  auto matches = [&](const Pattern& p) { return p.matches_address(a); };
  auto d = first_match(chain, scope, port, matches);
  if (!d)
    return resolved_from_name ? Decision{true, "no address rule matched"}
                              : Decision{false, "no rule matched"};
  // An `allow *` says nothing about where a literal points, just as it says nothing about where a name
  // resolves: the address rules (the built-in denies among them) still apply, unless an explicit
  // address rule allowed this address.
  if (d->decision.allowed && d->by_any) {
    auto by_address = first_match(chain, Scope::Resolved, port, matches);
    if (by_address && !by_address->decision.allowed) return std::move(by_address->decision);
  }
  return std::move(d->decision);
}

}  // namespace

Decision check_address(const Chain& chain, const Address& address, std::uint16_t port,
                       bool resolved_from_name) {
  const Address a = address.normalised();
  Decision d = check_one_address(chain, a, port, resolved_from_name);
  if (!d.allowed) return d;
  // A NAT64 or 6to4 address reaches the IPv4 host it embeds: no address rule may deny that host.
  // (As for a resolved address: the IPv6 address itself is what the target named, and decided above.)
  for (const Address& v4 : a.embedded_ipv4s()) {
    Decision behind = check_one_address(chain, v4, port, true);
    if (!behind.allowed) return behind;
  }
  return d;
}

}  // namespace ferry::policy
