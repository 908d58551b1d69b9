#include "agent/recent_refusals.hpp"

#include <ctime>

namespace ferry::agent {

void RecentRefusals::add(std::string client, std::string target, const frame::OpenResult& r) {
  kept_.push_front(Refusal{static_cast<std::int64_t>(std::time(nullptr)), std::move(client),
                           std::move(target), frame::open_code_name(r.code), r.reason});
  if (kept_.size() > kKept) kept_.pop_back();
}

}  // namespace ferry::agent
