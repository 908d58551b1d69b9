#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace ferry::log {
namespace {

std::atomic<Level> g_level{Level::Info};
std::mutex g_mutex;  // one whole line at a time, whatever thread writes

const char* name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "?";
}

}  // namespace

void set_level(Level l) noexcept { g_level = l; }
bool enabled(Level l) noexcept { return l >= g_level.load(std::memory_order_relaxed); }

void write(Level l, std::string_view who, std::string_view message) {
  if (!enabled(l)) return;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(48 + who.size() + message.size());
  line.append(stamp).append(" ").append(name(l)).append(" ").append(who).append(": ").append(message);
  // Control characters from peers never reach the terminal or the log file as such.
  for (auto& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  line.push_back('\n');
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ferry::log
