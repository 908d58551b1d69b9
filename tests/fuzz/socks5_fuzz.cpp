// SOCKS5 decoding: the input is read as one client's byte stream (greeting, an optional RFC 1929
// sub-negotiation chosen by the greeting, then requests). Every decoded message must re-encode to
// the very bytes it came from, and no strict prefix of them may be an error or a message.
#include <algorithm>
#include <cstdint>
#include <span>

#include "common/codec/socks5.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

namespace {

// The invariants every decoder shares; `encode` rebuilds the bytes of a decoded message.
template <class Decode, class Encode>
bool check(ByteSpan& in, Decode decode, Encode encode) {
  auto r = decode(in);
  if (!r || !r->msg) return false;
  FERRY_FUZZ_ASSERT(r->used > 0 && r->used <= in.size());
  const Bytes again = encode(*r->msg);
  FERRY_FUZZ_ASSERT(again.size() == r->used && std::equal(again.begin(), again.end(), in.begin()));
  for (std::size_t cut = 0; cut < r->used; ++cut) {
    auto part = decode(in.first(cut));
    FERRY_FUZZ_ASSERT(part && !part->msg && part->used == 0);
  }
  in = in.subspan(r->used);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  ByteSpan in{p, n};
  bool userpass = false;
  const bool greeted = check(in, socks5::decode_greeting, [&](const socks5::Greeting& g) {
    userpass = g.offers(socks5::kMethodUsernamePassword);
    return socks5::encode_greeting(g);
  });
  if (!greeted) return 0;
  if (userpass && !check(in, socks5::decode_userpass, socks5::encode_userpass)) return 0;
  while (check(in, socks5::decode_request, [](const socks5::Request& r) {
    (void)socks5::encode_reply(socks5::kRepSucceeded, r.target);
    return socks5::encode_request(r);
  })) {
  }
  if (auto bad = socks5::decode_request(in); !bad) (void)socks5::rep_for(bad.error());
  return 0;
}
