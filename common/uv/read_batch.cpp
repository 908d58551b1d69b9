#include "common/uv/read_batch.hpp"

#include <vector>

namespace ferry::uv::read_batch {
namespace {

struct Deferred {
  void* who;
  FlushFn fn;
};

thread_local std::vector<Deferred> pending;

}  // namespace

void defer(void* who, FlushFn fn) { pending.push_back({who, fn}); }

void cancel(void* who) noexcept {
  // Blanked, not erased: cancel may run while run() walks the list.
  for (Deferred& d : pending)
    if (d.who == who) d.who = nullptr;
}

void run() {
  // A flush may close its pipe (a write error) but defers nothing new into this batch; indices keep
  // the walk valid even so, and whatever is added is still run.
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Deferred d = pending[i];
    if (d.who != nullptr) d.fn(d.who);
  }
  pending.clear();
}

}  // namespace ferry::uv::read_batch
