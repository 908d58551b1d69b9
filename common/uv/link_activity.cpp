#include "common/uv/link_activity.hpp"

#include "common/uv/loop_context.hpp"

namespace ferry::uv::link_activity {

void note(uv_loop_t* loop, const void* link, std::uint64_t now_ms, bool heavy) noexcept {
  if (heavy) return forget(loop, link);
  RecentLinks& recent = context(loop).recent;
  if (recent[0].link != link) recent[1] = recent[0];
  recent[0] = Recent{link, now_ms};
}

bool crowded(uv_loop_t* loop, const void* link, std::uint64_t now_ms) noexcept {
  for (const Recent& r : context(loop).recent)
    if (r.link != nullptr && r.link != link && now_ms - r.at_ms < kWindowMs) return true;
  return false;
}

void forget(uv_loop_t* loop, const void* link) noexcept {
  for (Recent& r : context(loop).recent)
    if (r.link == link) r = Recent{};
}

}  // namespace ferry::uv::link_activity
