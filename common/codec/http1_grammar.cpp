#include "common/codec/http1_grammar.hpp"

#include <algorithm>

namespace ferry::http1 {

bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

bool is_field_vchar(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7F); }

bool iequals(std::string_view a, std::string_view b) noexcept {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto comma = value.find(',');
    out.push_back(trim_ows(value.substr(0, comma)));
    if (comma == std::string_view::npos) return out;
    value.remove_prefix(comma + 1);
  }
}

const Header* find_header(const Headers& h, std::string_view name) noexcept {
  for (const auto& f : h)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

std::size_t count_headers(const Headers& h, std::string_view name) noexcept {
  return static_cast<std::size_t>(
      std::count_if(h.begin(), h.end(), [&](const Header& f) { return iequals(f.name, name); }));
}

bool has_token(const Headers& h, std::string_view name, std::string_view token) {
  for (const auto& f : h) {
    if (!iequals(f.name, name)) continue;
    for (auto e : split_list(f.value))
      if (iequals(e, token)) return true;
  }
  return false;
}

void put(Bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

void put_field(Bytes& out, std::string_view name, std::string_view value) {
  put(out, name);
  put(out, ": ");
  put(out, value);
  put(out, "\r\n");
}

}  // namespace ferry::http1
