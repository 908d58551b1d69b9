#include "relay/audit.hpp"

#include <sys/stat.h>

#include <chrono>
#include <ctime>

namespace ferry::relay {

std::string json_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool AuditLog::open(const std::string& where) {
  if (where.empty()) return true;
  if (where == "-") {
    file_ = stderr;
    return true;
  }
  file_ = std::fopen(where.c_str(), "a");
  owned_ = file_ != nullptr;
  path_ = where;
  return file_ != nullptr;
}

bool AuditLog::reopen() {
  std::lock_guard lock(mutex_);
  if (!owned_) return true;
  struct stat held {
  }, at_path{};
  if (::fstat(::fileno(file_), &held) == 0 && ::stat(path_.c_str(), &at_path) == 0 &&
      held.st_dev == at_path.st_dev && held.st_ino == at_path.st_ino)
    return true;  // not rotated, or another worker reopened it already
  std::FILE* next = std::fopen(path_.c_str(), "a");
  if (!next) return false;
  std::fclose(file_);
  file_ = next;
  return true;
}

AuditLog::~AuditLog() {
  if (owned_) std::fclose(file_);
}

void AuditLog::write(const AuditRecord& r) {
  if (!file_) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char line[2048];
  std::snprintf(line, sizeof line,
                "{\"time\":\"%s\",\"agent\":\"%s\",\"target\":\"%s\",\"dialled\":\"%s\",\"result\":\"%s\","
                "\"reason\":\"%s\",\"bytes_up\":%llu,\"bytes_down\":%llu,\"duration_s\":%.3f}\n",
                stamp, json_escape(r.agent).c_str(), json_escape(r.target).c_str(),
                json_escape(r.dialled).c_str(), json_escape(r.result).c_str(), json_escape(r.reason).c_str(),
                static_cast<unsigned long long>(r.bytes_up), static_cast<unsigned long long>(r.bytes_down),
                r.duration_s);
  std::lock_guard lock(mutex_);
  std::fputs(line, file_);
  std::fflush(file_);
}

}  // namespace ferry::relay
