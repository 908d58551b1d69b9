#include "common/policy/rule.hpp"

#include <charconv>
#include <cstdio>

#include "common/policy/host_name.hpp"

namespace ferry::policy {
namespace {

// Longest rule text we read. The longest valid rule is "allow " + a 253-character name + ":65535-65535",
// well under this; the limit keeps a hostile or broken config from costing more than a glance.
constexpr std::size_t kMaxRuleChars = 512;

Result<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec == std::errc::invalid_argument || end != s.data() + s.size())
    return fail(Errc::Config, "ports must be *, N or N-M with decimal numbers");
  if (ec != std::errc{} || v < 1 || v > 65535) return fail(Errc::Config, "port must be 1..65535");
  return static_cast<std::uint16_t>(v);
}

Result<PortRange> parse_ports(std::string_view s) {
  if (s == "*") return PortRange{};
  const auto dash = s.find('-');
  const auto lo = parse_port(s.substr(0, dash));
  if (!lo) return lo.error();
  if (dash == std::string_view::npos) return PortRange{*lo, *lo};
  const auto hi = parse_port(s.substr(dash + 1));
  if (!hi) return hi.error();
  if (*lo > *hi) return fail(Errc::Config, "port range N-M needs N <= M");
  return PortRange{*lo, *hi};
}

Pattern block_pattern(Pattern::Kind kind, Cidr block) {
  Pattern p;
  p.kind = kind;
  p.block = block;
  return p;
}

Result<Pattern> parse_ip_pattern(std::string_view s) {
  if (s.find('/') != std::string_view::npos) {
    const auto cidr = parse_cidr(s);
    if (!cidr) return cidr.error();
    return block_pattern(Pattern::Kind::Cidr, *cidr);
  }
  const auto a = parse_address(s);
  if (!a) return fail(Errc::Config, s.find(':') == s.npos ? "invalid IPv4 address" : "invalid IPv6 address");
  const auto n = a->normalised();
  return block_pattern(Pattern::Kind::Address, Cidr{n, static_cast<std::uint8_t>(n.bit_count())});
}

Result<Pattern> parse_name_pattern(std::string_view s) {
  Pattern p;
  p.kind = Pattern::Kind::Host;
  if (s.starts_with("*.")) {
    p.kind = Pattern::Kind::Suffix;
    s.remove_prefix(2);
  }
  if (s.find('*') != std::string_view::npos)
    return fail(Errc::Config, "'*' may only be the whole pattern or a leading \"*.\"");
  auto name = normalise_host_name(s);
  if (!name) return name.error();
  p.name = std::move(*name);
  return p;
}

// Digits, dots and slashes only: meant as an IPv4 address or block, whether or not it is a valid one.
bool looks_numeric(std::string_view s) {
  return s.find_first_of("0123456789") != s.npos && s.find_first_not_of("0123456789./") == s.npos;
}

// Decides what kind of pattern the text is; ports are already split off.
Result<Pattern> parse_pattern(std::string_view s) {
  if (s.empty()) return fail(Errc::Config, "missing pattern");
  if (s == "*") return Pattern{};
  if (const auto set = parse_named_set(s)) {
    Pattern p;
    p.kind = Pattern::Kind::Set;
    p.set = *set;
    return p;
  }
  if (s.find(':') != s.npos || s.find('/') != s.npos || looks_numeric(s)) return parse_ip_pattern(s);
  return parse_name_pattern(s);
}

// Splits "PATTERN[:PORTS]" and parses both halves; see the bracket note in rule.hpp.
Result<Rule> parse_target(std::string_view s, Action action) {
  std::string_view pattern = s, ports = "*";
  bool bracketed = false;
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    if (close == s.npos) return fail(Errc::Config, "'[' without a closing ']'");
    pattern = s.substr(1, close - 1);
    const auto after = s.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return fail(Errc::Config, "unexpected text after ']'");
    if (!after.empty()) ports = after.substr(1);
    bracketed = true;
  } else if (const auto colon = s.find(':'); colon != s.npos && s.find(':', colon + 1) == s.npos) {
    pattern = s.substr(0, colon);
    ports = s.substr(colon + 1);
  }
  if (bracketed && pattern.find(':') == pattern.npos)
    return fail(Errc::Config, "brackets are only for IPv6 addresses and blocks");
  auto p = bracketed ? parse_ip_pattern(pattern) : parse_pattern(pattern);
  if (!p) return p.error();
  const auto range = parse_ports(ports);
  if (!range) return range.error();
  return Rule{action, std::move(*p), *range};
}

std::string pattern_text(const Pattern& p, bool has_ports) {
  switch (p.kind) {
    case Pattern::Kind::Any:
      return "*";
    case Pattern::Kind::Suffix:
      return "*." + p.name;
    case Pattern::Kind::Host:
      return parse_named_set(p.name) ? p.name + "." : p.name;
    case Pattern::Kind::Set:
      return named_set_name(p.set);
    case Pattern::Kind::Address:
    case Pattern::Kind::Cidr:
      break;
  }
  auto text = p.kind == Pattern::Kind::Address ? p.block.base.to_string() : p.block.to_string();
  return (has_ports && !p.block.base.is_v4()) ? "[" + text + "]" : text;
}

std::string escaped(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool Pattern::matches_name(std::string_view n) const noexcept {
  switch (kind) {
    case Kind::Any:
      return true;
    case Kind::Host:
      return n == name;
    case Kind::Suffix:
      return has_label_suffix(n, name);
    default:
      return false;
  }
}

bool Pattern::matches_address(const Address& a) const {
  switch (kind) {
    case Kind::Any:
      return true;
    case Kind::Address:
    case Kind::Cidr:
      return block.contains(a);
    case Kind::Set:
      return named_set_contains(set, a);
    default:
      return false;
  }
}

Result<Rule> parse_rule(std::string_view text) {
  if (text.empty()) return fail(Errc::Config, "empty rule");
  if (text.size() > kMaxRuleChars) return fail(Errc::Config, "rule longer than 512 characters");
  if (std::string_view(" \t\r\n\v\f").find(text.front()) != std::string_view::npos)
    return fail(Errc::Config, "whitespace before the action");
  const auto sp = text.find(' ');
  const auto word = text.substr(0, sp);
  if (word != "allow" && word != "deny") {
    if (word.starts_with("allow") || word.starts_with("deny"))
      return fail(Errc::Config, "action and pattern must be separated by spaces");
    return fail(Errc::Config, "rule must start with \"allow\" or \"deny\"");
  }
  const auto action = word == "allow" ? Action::Allow : Action::Deny;
  const auto start = sp == text.npos ? text.npos : text.find_first_not_of(' ', sp);
  if (start == text.npos) return fail(Errc::Config, "missing pattern after the action");
  const auto rest = text.substr(start);
  if (rest.find_first_of(" \t\r\n\v\f") != rest.npos)
    return fail(Errc::Config, "unexpected text after the pattern (one pattern per rule, no trailing space)");
  return parse_target(rest, action);
}

std::string to_string(const Rule& r) {
  std::string s = r.action == Action::Allow ? "allow " : "deny ";
  s += pattern_text(r.pattern, !r.ports.any());
  if (r.ports.any()) return s;
  s += ":" + std::to_string(r.ports.lo);
  if (r.ports.hi != r.ports.lo) s += "-" + std::to_string(r.ports.hi);
  return s;
}

std::string RuleError::message() const {
  return "rule " + std::to_string(index + 1) + " \"" + escaped(text) + "\": " + error.what;
}

Result<RuleSet> parse_rules(std::string source, const std::vector<std::string>& texts,
                            RuleError* first_error) {
  RuleSet set;
  set.source = std::move(source);
  set.rules.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto rule = parse_rule(texts[i]);
    if (!rule) {
      if (first_error) *first_error = RuleError{i, texts[i], rule.error()};
      return rule.error();
    }
    set.rules.push_back(std::move(*rule));
  }
  return set;
}

}  // namespace ferry::policy
