// rtnetlink datagrams: any bytes decode to events or a clean error, every event names a known kind
// and an address of its family's size (or none), and describe() has an answer for each.
#include <cstdint>
#include <span>

#include "common/codec/netlink_route.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  auto events = netlink::decode_route_events(ByteSpan{p, n});
  if (!events) return 0;
  FERRY_FUZZ_ASSERT(events->size() <= n / 16);  // at most one event per message header
  for (const auto& e : *events) {
    FERRY_FUZZ_ASSERT(e.address.empty() || e.address.size() == 4 || e.address.size() == 16);
    FERRY_FUZZ_ASSERT(!netlink::describe(e).empty());
  }
  return 0;
}
