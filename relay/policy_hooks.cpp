#include "relay/policy_hooks.hpp"

namespace ferry::relay {

config::RuleCheck rule_check() {
  return [](const std::string& text) -> std::optional<std::string> {
    auto r = policy::parse_rule(text);
    if (r) return std::nullopt;
    return std::string(r.error().what);
  };
}

// The rules were validated when the configuration loaded (rule_check). Should a set still fail to
// parse, it becomes "deny *": an empty set would fall through to the built-in "allow *".
std::shared_ptr<const PolicyState> build_policy(const config::RelayConfig& cfg) {
  auto parse_or_deny = [](std::string source, const std::vector<std::string>& rules) {
    auto set = policy::parse_rules(source, rules);
    return set ? std::move(*set) : std::move(*policy::parse_rules(std::move(source), {"deny *"}));
  };
  auto state = std::make_shared<PolicyState>();
  state->global = parse_or_deny("[policy]", cfg.policy_rules);
  for (const auto& a : cfg.agents)
    if (!a.rules.empty()) state->agents[a.name] = parse_or_deny("agent \"" + a.name + "\"", a.rules);
  return state;
}

PolicyHooks policy_hooks(std::shared_ptr<PolicyHolder> holder) {
  PolicyHooks hooks;
  auto chain_for = [](const PolicyState& s, const AgentInfo& agent) {
    auto it = s.agents.find(agent.name);
    return policy::make_chain(it == s.agents.end() ? nullptr : &it->second, &s.global);
  };
  hooks.check_name = [holder, chain_for](const AgentInfo& agent, const std::string& name,
                                         std::uint16_t port) -> std::optional<std::string> {
    const auto state = holder->state;  // a reload cannot pull it away mid-check
    const auto d = policy::check_name(chain_for(*state, agent), name, port);
    if (d.allowed) return std::nullopt;
    return d.text;
  };
  hooks.check_address = [holder, chain_for](const AgentInfo& agent, const sockaddr* sa,
                                            bool resolved) -> std::optional<std::string> {
    const auto addr = policy::Address::from_sockaddr(sa);
    if (!addr) return std::string("not an IP address");
    const std::uint16_t port = sa->sa_family == AF_INET
                                   ? ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    const auto state = holder->state;
    const auto d = policy::check_address(chain_for(*state, agent), *addr, port, resolved);
    if (d.allowed) return std::nullopt;
    return d.text;
  };
  return hooks;
}

}  // namespace ferry::relay
