// The egress check's answer (and URL): any bytes from an origin end as an address, an error with a
// sentence, or "feed more", never a crash; an address is a real one; and a URL that parses builds a
// request whose only line breaks are its own (no header injection from agent.toml).
#include <cstdint>
#include <string>
#include <string_view>

#include "common/codec/egress_answer.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  const ByteSpan in{p, n};
  for (bool eof : {false, true}) {
    const egress::Outcome o = egress::decode_answer(in, eof);
    if (!o.done) {
      FERRY_FUZZ_ASSERT(!eof);  // once the origin closed, every answer has an outcome
      continue;
    }
    FERRY_FUZZ_ASSERT(o.address.empty() != o.error.empty());
    if (!o.address.empty()) FERRY_FUZZ_ASSERT(egress::is_ip_address(o.address));
    for (char c : o.error) FERRY_FUZZ_ASSERT(c >= 0x20 && c < 0x7F);  // it reaches a terminal and a log
  }
  const std::string_view text(reinterpret_cast<const char*>(p), n);
  if (auto url = egress::parse_check_url(text)) {
    const std::string req = egress::request_for(*url);
    std::size_t breaks = 0;
    for (std::size_t at = req.find('\n'); at != std::string::npos; at = req.find('\n', at + 1)) ++breaks;
    FERRY_FUZZ_ASSERT(breaks == 5);
    FERRY_FUZZ_ASSERT(req.find('\r') == req.find("\r\n"));
  }
  return 0;
}
