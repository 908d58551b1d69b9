// One log line per decision (CONTRIBUTING.md "Errors and logs"): "TIME LEVEL WHO: message". Lines go to
// stderr, whole, from any thread. Callers never pass keys, passwords, Proxy-Authorization values or payload
// bytes.
#pragma once

#include <string_view>

namespace ferry::log {

enum class Level { Debug, Info, Warn, Error };

void set_level(Level l) noexcept;
bool enabled(Level l) noexcept;
void write(Level l, std::string_view who, std::string_view message);

inline void debug(std::string_view who, std::string_view m) {
  if (enabled(Level::Debug)) write(Level::Debug, who, m);
}
inline void info(std::string_view who, std::string_view m) { write(Level::Info, who, m); }
inline void warn(std::string_view who, std::string_view m) { write(Level::Warn, who, m); }
inline void error(std::string_view who, std::string_view m) { write(Level::Error, who, m); }

}  // namespace ferry::log
