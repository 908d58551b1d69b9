#include "agent/doctor_report.hpp"

#include <algorithm>

#include "common/json_escape.hpp"

namespace ferry::agent {
namespace {

const char* status_word(DoctorCheck::Status s) {
  switch (s) {
    case DoctorCheck::Status::Ok:
      return "OK";
    case DoctorCheck::Status::Fail:
      return "FAIL";
    case DoctorCheck::Status::Skip:
      return "SKIP";
  }
  return "?";
}

}  // namespace

void DoctorReport::ok(std::string name, std::string detail) {
  checks_.push_back({std::move(name), DoctorCheck::Status::Ok, std::move(detail), {}, DoctorExit::Ok});
}

void DoctorReport::fail(std::string name, DoctorExit exit, std::string detail, std::string advice) {
  checks_.push_back({std::move(name), DoctorCheck::Status::Fail, std::move(detail), std::move(advice), exit});
}

void DoctorReport::skip(std::string name, std::string detail, std::string advice) {
  checks_.push_back(
      {std::move(name), DoctorCheck::Status::Skip, std::move(detail), std::move(advice), DoctorExit::Ok});
}

void DoctorReport::skip_rest(const std::vector<std::string>& names, std::string because) {
  // `because` is a copy: it may name a check of checks_, which the skips below reallocate.
  for (const std::string& n : names)
    if (std::none_of(checks_.begin(), checks_.end(), [&](const DoctorCheck& c) { return c.name == n; }))
      skip(n, "not checked: " + because + " failed");
}

int DoctorReport::exit_code() const noexcept {
  for (const DoctorCheck& c : checks_)
    if (c.status == DoctorCheck::Status::Fail) return static_cast<int>(c.exit);
  return 0;
}

std::string DoctorReport::line(const DoctorCheck& c) {
  std::string s = "  ";
  s += status_word(c.status);
  s.resize(8, ' ');
  s += c.name;
  s.resize(std::max<std::size_t>(s.size() + 1, 22), ' ');
  s += c.detail + "\n";
  if (!c.advice.empty()) s += std::string(22, ' ') + "-> " + c.advice + "\n";
  return s;
}

std::string DoctorReport::summary() const {
  for (const DoctorCheck& c : checks_)
    if (c.status == DoctorCheck::Status::Fail)
      return "FAIL: " + c.name + " (exit code " + std::to_string(static_cast<int>(c.exit)) + ")";
  return "all checks passed";
}

std::string DoctorReport::json() const {
  std::string j = "{\"exit_code\":" + std::to_string(exit_code()) + ",\"summary\":" + json_string(summary()) +
                  ",\"checks\":[";
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    const DoctorCheck& c = checks_[i];
    j += std::string(i ? "," : "") + "{\"check\":" + json_string(c.name) +
         ",\"status\":" + json_string(status_word(c.status)) + ",\"detail\":" + json_string(c.detail) +
         ",\"advice\":" + (c.advice.empty() ? std::string("null") : json_string(c.advice));
    if (c.status == DoctorCheck::Status::Fail)
      j += ",\"exit_code\":" + std::to_string(static_cast<int>(c.exit));
    j += "}";
  }
  return j + "]}\n";
}

}  // namespace ferry::agent
