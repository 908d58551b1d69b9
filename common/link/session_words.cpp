#include "common/link/session_words.hpp"

#include <cstdio>

namespace ferry::link {

std::string short_session_id(const SessionId& id) {
  char out[9];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
  return out;
}

std::string format_seconds(std::uint64_t ms) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f s", static_cast<double>(ms) / 1000.0);
  return out;
}

std::string format_bytes(std::uint64_t n) {
  if (n < 1024) return std::to_string(n) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n) / 1024.0;
  std::size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < std::size(kUnits)) v /= 1024.0, ++unit;
  char out[32];
  std::snprintf(out, sizeof out, "%.1f %s", v, kUnits[unit]);
  return out;
}

}  // namespace ferry::link
