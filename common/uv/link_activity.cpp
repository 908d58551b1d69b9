#include "common/uv/link_activity.hpp"

namespace ferry::uv::link_activity {
namespace {

// The two light links of this thread that moved bytes most recently, newest first: enough to answer
// "is anyone else busy?" for any link, with no table to grow or clean.
struct Recent {
  const void* link = nullptr;
  std::uint64_t at_ms = 0;
};
thread_local Recent recent[2];

}  // namespace

void note(const void* link, std::uint64_t now_ms, bool heavy) noexcept {
  if (heavy) return forget(link);
  if (recent[0].link != link) recent[1] = recent[0];
  recent[0] = Recent{link, now_ms};
}

bool crowded(const void* link, std::uint64_t now_ms) noexcept {
  for (const Recent& r : recent)
    if (r.link != nullptr && r.link != link && now_ms - r.at_ms < kWindowMs) return true;
  return false;
}

void forget(const void* link) noexcept {
  for (Recent& r : recent)
    if (r.link == link) r = Recent{};
}

void clear() noexcept {
  for (Recent& r : recent) r = Recent{};
}

}  // namespace ferry::uv::link_activity
