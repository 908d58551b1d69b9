// Name lookups run on libuv's thread pool, which every agent on the relay shares, and a lookup that
// hangs on a dead name server holds its thread until the resolver gives up. LookupSlots lets one
// agent's link hold at most `limit` of those threads; its further lookups wait their turn (their
// dial timeout keeps running) instead of queueing behind everyone else's in the pool.
#pragma once

#include <cstddef>
#include <deque>

namespace ferry::net {

class Dialer;

class LookupSlots {
 public:
  explicit LookupSlots(std::size_t limit) : limit_(limit) {}
  LookupSlots(const LookupSlots&) = delete;
  LookupSlots& operator=(const LookupSlots&) = delete;

  // True: `d` may look up now. False: `d` waits, and start_lookup() is called when a slot frees.
  bool take(Dialer* d);
  // A lookup's callback ran (its Dialer may be gone by then): the slot goes to the next waiter.
  void give();
  // A lookup that could not be started hands its slot back without waking anyone (the caller is
  // already waking them).
  void give_unused() noexcept { --used_; }
  // A waiting Dialer goes away.
  void forget(Dialer* d);

  std::size_t in_use() const noexcept { return used_; }
  std::size_t waiting() const noexcept { return waiting_.size(); }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
  std::deque<Dialer*> waiting_;
};

}  // namespace ferry::net
