// The destination policy of relay.toml, parsed once per (re)load, as the link handlers use it.
#pragma once

#include <map>
#include <memory>

#include "common/config/relay_config.hpp"
#include "common/policy/policy.hpp"
#include "relay/link_handler.hpp"

namespace ferry::relay {

struct PolicyState {
  policy::RuleSet global;                         // [policy]
  std::map<std::string, policy::RuleSet> agents;  // [[agents]] rules, by name
};

// The current policy; SIGHUP replaces `state`, streams already open keep going.
struct PolicyHolder {
  std::shared_ptr<const PolicyState> state;
};

// For config loading: the parse error of one rule, if any.
config::RuleCheck rule_check();
// From a configuration that passed rule_check().
std::shared_ptr<const PolicyState> build_policy(const config::RelayConfig& cfg);
PolicyHooks policy_hooks(std::shared_ptr<PolicyHolder> holder);

}  // namespace ferry::relay
