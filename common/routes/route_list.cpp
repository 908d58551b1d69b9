#include "common/routes/route_list.hpp"

#include <sodium.h>

#include "common/policy/host_name.hpp"

namespace ferry::routes {

Result<Route> parse_route(std::string_view text) {
  if (text.empty())
    return fail(Errc::Config, "a route is a name, \"*.\" and a name, an address or a network");
  if (text.find(' ') != std::string_view::npos) return fail(Errc::Config, "a route has no spaces");
  auto rule = policy::parse_rule("allow " + std::string(text));
  if (!rule) return rule.error();
  using Kind = policy::Pattern::Kind;
  if (rule->pattern.kind == Kind::Any)
    return fail(Errc::Config, "\"*\" is every target: leave routes out instead");
  if (rule->pattern.kind == Kind::Set)
    return fail(Errc::Config, "a route names networks, not a set (write \"10.0.0.0/8\", not \"private\")");
  if (!rule->ports.any()) return fail(Errc::Config, "a route has no port: it names where, not which port");
  std::string canonical = policy::to_string(*rule);
  canonical.erase(0, 6);  // "allow "
  return Route{rule->pattern, std::move(canonical)};
}

std::uint32_t version_of(const std::vector<Route>& routes) { return version_of(routes, {}); }

std::uint32_t version_of(const std::vector<Route>& routes, const std::vector<std::string>& policy) {
  crypto_generichash_state h;
  crypto_generichash_init(&h, nullptr, 0, 4);
  for (const Route& r : routes)  // each text with its terminator: ["ab","c"] differs from ["a","bc"]
    crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(r.text.c_str()), r.text.size() + 1);
  if (!policy.empty()) {
    // A byte no route text holds (they are printable) ends the routes: a route cannot pass for a rule.
    const unsigned char separator = 0x01;
    crypto_generichash_update(&h, &separator, 1);
    for (const std::string& text : policy)
      crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(text.c_str()), text.size() + 1);
  }
  unsigned char out[4];
  crypto_generichash_final(&h, out, sizeof out);
  const std::uint32_t v =
      (std::uint32_t{out[0]} << 24) | (std::uint32_t{out[1]} << 16) | (std::uint32_t{out[2]} << 8) | out[3];
  return v == 0 ? 1 : v;
}

Result<std::vector<Route>> parse_routes(const std::vector<std::string>& texts, std::string* error) {
  std::vector<Route> out;
  if (texts.size() > kMaxRoutes) {
    if (error) *error = "more than " + std::to_string(kMaxRoutes) + " routes";
    return fail(Errc::Config, "too many routes");
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r = parse_route(texts[i]);
    if (!r) {
      if (error) {
        std::string shown;
        for (char c : texts[i].substr(0, 80)) shown += (c >= 0x20 && c < 0x7F && c != '"') ? c : '?';
        *error = "entry " + std::to_string(i + 1) + " \"" + shown + "\": " + r.error().what;
      }
      return r.error();
    }
    out.push_back(std::move(*r));
  }
  return out;
}

bool routes_through(const std::vector<Route>& routes, const Target& target) {
  if (target.kind == Target::Kind::Name) {
    auto name = policy::normalise_host_name(target.name);
    if (!name) return false;
    for (const Route& r : routes)
      if (r.pattern.is_name_pattern() && r.pattern.matches_name(*name)) return true;
    return false;
  }
  auto a = policy::Address::from_target(target);
  if (!a) return false;
  const policy::Address addr = a->normalised();
  for (const Route& r : routes)
    if (r.pattern.is_address_pattern() && r.pattern.matches_address(addr)) return true;
  return false;
}

}  // namespace ferry::routes
