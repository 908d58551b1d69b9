#include "relay/refusal_budget.hpp"

#include <algorithm>

namespace ferry::relay {

bool RefusalBudget::note(const std::string& agent, const std::string& target, std::int64_t now_ms,
                         std::vector<Summary>& due) {
  const std::int64_t second = now_ms / 1000;
  Agent& a = agents_[agent];
  if (a.second != second) {
    close_second(agent, a, due);
    a.second = second;
  }
  if (a.written < kPerSecond) {
    ++a.written;
    return true;
  }
  if (a.suppressed++ == 0) {  // the first one over: this second counts toward abuse
    if (a.last_over != second - 1) a.over_since = second;
    a.last_over = second;
  }
  if (auto it = a.targets.find(target); it != a.targets.end())
    ++it->second;
  else if (a.targets.size() < kTrackedTargets)
    a.targets.emplace(target, 1);
  else
    ++a.other_targets;
  return false;
}

void RefusalBudget::collect(std::int64_t now_ms, std::vector<Summary>& due) {
  const std::int64_t second = now_ms / 1000;
  for (auto& [name, a] : agents_)
    if (a.second != second) close_second(name, a, due);
}

bool RefusalBudget::abusive(const std::string& agent, std::int64_t now_ms) const {
  const auto it = agents_.find(agent);
  if (it == agents_.end()) return false;
  const Agent& a = it->second;
  const std::int64_t second = now_ms / 1000;
  return a.last_over == second && second - a.over_since + 1 >= kAbuseSeconds;
}

void RefusalBudget::close_second(const std::string& name, Agent& a, std::vector<Summary>& due) {
  if (a.suppressed > 0) {
    Summary s{name, a.second, a.suppressed, {}};
    s.top.assign(a.targets.begin(), a.targets.end());
    std::sort(s.top.begin(), s.top.end(), [](const auto& x, const auto& y) {
      return x.second != y.second ? x.second > y.second : x.first < y.first;
    });
    if (s.top.size() > kTopTargets) s.top.resize(kTopTargets);
    due.push_back(std::move(s));
  }
  a.written = a.suppressed = a.other_targets = 0;
  a.targets.clear();
}

}  // namespace ferry::relay
