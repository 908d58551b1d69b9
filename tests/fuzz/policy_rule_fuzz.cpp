// Policy rules: parse arbitrary text as one rule. A rule that parses must round-trip through its canonical
// text and, placed in front of the built-ins, must give a decision for fixed names and addresses without
// ever letting a name reach an address the built-ins deny, unless the rule itself allows that address.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/policy/host_name.hpp"
#include "common/policy/policy.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;
using namespace ferry::policy;

namespace {

constexpr std::string_view kNames[] = {"a.staging.example.com",  "localhost", "Example.COM.", "127.0.0.1",
                                       "::ffff:169.254.169.254", "2130706433"};
constexpr std::string_view kAddresses[] = {
    "127.0.0.1",   "::1",     "::ffff:169.254.169.254", "10.1.2.3", "ff02::1",
    "2001:db8::1", "0.0.0.0", "255.255.255.255"};
constexpr std::uint16_t kPorts[] = {0, 1, 22, 443, 8080, 65535};

bool printable(const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

void check_decision(const Decision& d) {
  FERRY_FUZZ_ASSERT(!d.text.empty());
  FERRY_FUZZ_ASSERT(d.text.size() <= kMaxDecisionChars);
  FERRY_FUZZ_ASSERT(printable(d.text));
}

void evaluate(const Rule& rule) {
  RuleSet set;
  set.source = "[policy]";
  set.rules.push_back(rule);
  const auto chain = make_chain(nullptr, &set);
  for (const auto port : kPorts) {
    for (const auto name : kNames) check_decision(check_name(chain, name, port));
    for (const auto text : kAddresses) {
      const auto a = parse_address(text);
      FERRY_FUZZ_ASSERT(a);
      check_decision(check_address(chain, *a, port, false));
      const auto resolved = check_address(chain, *a, port, true);
      check_decision(resolved);
      // The DNS-rebinding promise: an address inside a built-in deny is allowed for a name only by an
      // explicit address rule, never by `*` or a name pattern.
      const auto n = a->normalised();
      const bool builtin_denied =
          named_set_contains(NamedSet::Loopback, n) || named_set_contains(NamedSet::LinkLocal, n) ||
          named_set_contains(NamedSet::Multicast, n) || named_set_contains(NamedSet::Unspecified, n);
      if (builtin_denied && resolved.allowed)
        FERRY_FUZZ_ASSERT(rule.action == Action::Allow && rule.pattern.is_address_pattern() &&
                          rule.ports.contains(port) && rule.pattern.matches_address(n));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  const std::string_view text(reinterpret_cast<const char*>(p), n);
  (void)parse_address(text);
  (void)normalise_host_name(text);
  const auto rule = parse_rule(text);
  if (!rule) {
    FERRY_FUZZ_ASSERT(rule.error().code == Errc::Config && rule.error().what[0] != '\0');
    return 0;
  }
  const std::string canonical = to_string(*rule);
  FERRY_FUZZ_ASSERT(printable(canonical));
  const auto again = parse_rule(canonical);
  FERRY_FUZZ_ASSERT(again && *again == *rule);
  FERRY_FUZZ_ASSERT(to_string(*again) == canonical);
  evaluate(*rule);
  return 0;
}
