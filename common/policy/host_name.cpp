#include "common/policy/host_name.hpp"

#include <algorithm>

namespace ferry::policy {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<std::string> normalise_host_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);  // "example.com." is fully qualified
  if (text.empty()) return fail(Errc::Config, "empty host name");
  if (text.size() > kMaxHostNameChars) return fail(Errc::Config, "host name longer than 253 characters");
  std::string out(text.size(), '\0');
  std::transform(text.begin(), text.end(), out.begin(), lower);
  if (!std::all_of(out.begin(), out.end(), is_name_char))
    return fail(Errc::Config, "host name may hold only letters, digits, '-', '_' and '.'");
  std::string_view last;
  for (std::size_t start = 0;;) {
    const auto dot = out.find('.', start);
    const auto end = dot == std::string::npos ? out.size() : dot;
    if (end == start || end - start > kMaxLabelChars)
      return fail(Errc::Config, "host name label must be 1..63 characters");
    if (dot == std::string::npos) {
      last = std::string_view(out).substr(start);
      break;
    }
    start = dot + 1;
  }
  if (all_digits(last))
    return fail(Errc::Config, "numeric last label: neither a host name nor an IPv4 address");
  return out;
}

bool has_label_suffix(std::string_view name, std::string_view suffix) noexcept {
  return name.size() > suffix.size() && name.ends_with(suffix) &&
         name[name.size() - suffix.size() - 1] == '.';
}

}  // namespace ferry::policy
