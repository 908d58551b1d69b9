// The relay's policy as its link handlers see it (relay/policy_hooks.cpp): per-agent rules by name,
// then [policy], then the built-ins; and a rule set that does not parse denies instead of falling
// through to the built-in "allow *".
#include <catch2/catch.hpp>

#include "relay/policy_hooks.hpp"

using namespace ferry;

TEST_CASE("relay policy hooks: agent rules first, and a set that does not parse denies", "[relay]") {
  config::RelayConfig cfg;
  cfg.policy_rules = {"allow *.example.com:443", "deny *"};
  config::AgentEntry alice;
  alice.name = "alice";
  alice.rules = {"allow intranet.corp:22"};
  cfg.agents = {alice};
  auto holder = std::make_shared<relay::PolicyHolder>();
  holder->state = relay::build_policy(cfg);
  const auto hooks = relay::policy_hooks(holder);
  CHECK_FALSE(hooks.check_name(relay::AgentInfo{"alice"}, "intranet.corp", 22));
  CHECK(hooks.check_name(relay::AgentInfo{"bob"}, "intranet.corp", 22) ==
        std::string("rule 2 of [policy]: \"deny *\""));
  CHECK_FALSE(hooks.check_name(relay::AgentInfo{"bob"}, "www.example.com", 443));

  // build_policy's contract is a configuration that passed rule_check; should one slip through, the
  // broken set denies everything.
  cfg.policy_rules = {"allow *.example.com:443", "this is not a rule"};
  holder->state = relay::build_policy(cfg);
  CHECK(hooks.check_name(relay::AgentInfo{"bob"}, "www.example.com", 443) ==
        std::string("rule 1 of [policy]: \"deny *\""));
}
