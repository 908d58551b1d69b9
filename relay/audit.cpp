#include "relay/audit.hpp"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <limits>

#include "common/json_escape.hpp"

namespace ferry::relay {

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

namespace {

std::string stamp_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return stamp;
}

}  // namespace

std::int64_t AuditLog::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AuditLog::write(const AuditRecord& r) {
  if (!file_) {  // no log, but the budget still decides who is abusive (close_if_abusive)
    std::vector<RefusalBudget::Summary> due;
    std::lock_guard lock(mutex_);
    if (r.result != "connected") budget_.note(r.agent, r.target, now_ms(), due);
    return;
  }
  char line[2048];
  std::snprintf(
      line, sizeof line,
      "{\"time\":\"%s\",\"agent\":\"%s\",\"from\":\"%s\",\"target\":\"%s\",\"dialled\":\"%s\",\"result\":\"%"
      "s\","
      "\"reason\":\"%s\",\"bytes_up\":%llu,\"bytes_down\":%llu,\"duration_s\":%.3f,\"resumes\":%llu}\n",
      stamp_now().c_str(), json_escape(r.agent).c_str(), json_escape(r.from).c_str(),
      json_escape(r.target).c_str(), json_escape(r.dialled).c_str(), json_escape(r.result).c_str(),
      json_escape(r.reason).c_str(), static_cast<unsigned long long>(r.bytes_up),
      static_cast<unsigned long long>(r.bytes_down), r.duration_s,
      static_cast<unsigned long long>(r.resumes));
  std::vector<RefusalBudget::Summary> due;
  std::lock_guard lock(mutex_);
  const bool full = r.result == "connected" || budget_.note(r.agent, r.target, now_ms(), due);
  put_summaries(due);
  if (full) put_line(line);
}

void AuditLog::flush_summaries(bool all) {
  std::vector<RefusalBudget::Summary> due;
  std::lock_guard lock(mutex_);
  budget_.collect(all ? std::numeric_limits<std::int64_t>::max() : now_ms(), due);
  if (file_) put_summaries(due);
}

bool AuditLog::abusive(const std::string& agent) {
  std::lock_guard lock(mutex_);
  return budget_.abusive(agent, now_ms());
}

// {"time":…,"agent":…,"result":"refusals suppressed","suppressed":N,"top_targets":[{"target":…,"count":N}]}
void AuditLog::put_summaries(const std::vector<RefusalBudget::Summary>& due) {
  for (const auto& s : due) {
    std::string line =
        "{\"time\":\"" + stamp_now() + "\",\"agent\":\"" + json_escape(s.agent) +
        "\",\"result\":\"refusals suppressed\",\"suppressed\":" + std::to_string(s.suppressed) +
        ",\"top_targets\":[";
    for (std::size_t i = 0; i < s.top.size(); ++i)
      line += std::string(i ? "," : "") + "{\"target\":\"" + json_escape(s.top[i].first) +
              "\",\"count\":" + std::to_string(s.top[i].second) + "}";
    put_line(line + "]}\n");
  }
}

void AuditLog::put_line(const std::string& line) {
  std::fputs(line.c_str(), file_);
  std::fflush(file_);
}

}  // namespace ferry::relay
