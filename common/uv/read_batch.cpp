#include "common/uv/read_batch.hpp"

#include "common/uv/loop_context.hpp"

namespace ferry::uv::read_batch {

void defer(uv_loop_t* loop, void* who, FlushFn fn) { context(loop).batch.pending.push_back({who, fn}); }

void cancel(uv_loop_t* loop, void* who) noexcept {
  // Blanked, not erased: cancel may run while run() walks the list.
  for (Deferred& d : context(loop).batch.pending)
    if (d.who == who) d.who = nullptr;
}

void run(uv_loop_t* loop) {
  // A flush may close its pipe (a write error) but defers nothing new into this batch; indices keep
  // the walk valid even so, and whatever is added is still run.
  auto& pending = context(loop).batch.pending;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Deferred d = pending[i];
    if (d.who != nullptr) d.fn(d.who);
  }
  pending.clear();
}

}  // namespace ferry::uv::read_batch
