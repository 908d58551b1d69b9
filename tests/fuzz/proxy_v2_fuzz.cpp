// The PROXY v2 header: any bytes from a load balancer's address end as a header (which takes exactly
// its own length, never the link's bytes behind it), "need more" for a strict prefix, or an error;
// never a crash. A header re-encoded decodes to the same addresses.
#include <cstdint>

#include "common/codec/proxy_v2.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  const ByteSpan in{p, n};
  auto d = proxy_v2::decode(in);
  if (!d) {
    FERRY_FUZZ_ASSERT(d.error().what[0] != '\0');
    return 0;
  }
  if (!d->msg) {
    FERRY_FUZZ_ASSERT(n < proxy_v2::kMaxHeaderBytes);  // need more only below the limit
    return 0;
  }
  FERRY_FUZZ_ASSERT(d->used >= proxy_v2::kFixedBytes && d->used <= n && d->used <= proxy_v2::kMaxHeaderBytes);
  // No prefix shorter than the header decodes to one.
  auto shorter = proxy_v2::decode(in.first(d->used - 1));
  FERRY_FUZZ_ASSERT(shorter && !shorter->msg);
  if (d->msg->local) return 0;
  FERRY_FUZZ_ASSERT(d->msg->source.address.family == d->msg->destination.address.family);
  auto again = proxy_v2::decode(proxy_v2::encode(*d->msg));
  FERRY_FUZZ_ASSERT(again && again->msg && again->msg->source.to_string() == d->msg->source.to_string() &&
                    again->msg->destination.to_string() == d->msg->destination.to_string());
  return 0;
}
