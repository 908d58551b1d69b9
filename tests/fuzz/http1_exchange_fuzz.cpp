// The whole HTTP/1.1 proxy exchange (common/codec/http1_exchange.hpp) driven from both sides at once:
// the input is a script of client byte runs, origin byte runs and events (the stream's open answer,
// FIN, RESET, backpressure, the client's EOF and reads, a drain), so pipelined requests, bodies,
// upgrades and CONNECT meet every order of events. The owner is modelled as the forwarder is: it
// stops reading the client when the exchange says so, and the origin speaks only on an open stream.
// Checked: the actions fit that model (bytes go only to an open stream, a new stream only after the
// old one was let go, credit never exceeds what the origin sent, nothing after an error page but the
// close, nothing at all after the close), a tunnel other than CONNECT's only on a stream whose
// request asked to upgrade (an unasked 101 is a 502), and the buffers stay within their bounds.
//
// Script: one byte of settings (bit 0: credentials needed, bit 1: draining, bit 2: no Host is
// local), then records of one tag byte; client and origin bytes carry a 16-bit little-endian length.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "common/codec/http1_auth.hpp"
#include "common/codec/http1_exchange.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;
using http1::Action;
using http1::ActionKind;

namespace {

enum Tag : std::uint8_t {
  kClientBytes,
  kOriginBytes,
  kClientEof,
  kOriginOpen,
  kOriginRefused,  // next byte: the OpenCode
  kOriginFin,
  kOriginReset,
  kOriginFull,
  kOriginWritable,
  kClientWritten,  // the client reads everything written so far
  kDrain,
  kAbort,
  kToggleAutoOpen,     // the relay answers each Open right after the actions (on at the start)
  kToggleClientReads,  // the client reads each write at once (on at the start)
  kOriginTakesEarly,   // the stream being opened takes the request before its answer (early data)
  kTagCount,
};

bool is_status(int s) {
  for (int known : {200, 400, 403, 404, 407, 414, 421, 431, 502, 503, 504, 505})
    if (s == known) return true;
  return false;
}

std::string lower(const Bytes& b) {
  std::string s(b.begin(), b.end());
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class Owner {
 public:
  explicit Owner(std::uint8_t settings) : ex_(rules(settings)) {}

  void client_bytes(ByteSpan b) {
    // The forwarder stops reading when the exchange wants no more, and after the client's EOF.
    if (client_closed_ || client_eof_ || !ex_.wants_client_bytes()) return;
    ex_.on_client_bytes(b);
    run();
  }
  void client_eof() {
    if (client_closed_ || client_eof_) return;
    client_eof_ = true;
    ex_.on_client_eof();
    run();
  }
  void client_written() {
    const std::size_t n = unwritten_;
    unwritten_ = 0;
    ex_.on_client_written(n);
    run();
  }
  void origin_bytes(ByteSpan b) {
    if (stream_ != Stream::Open || b.empty()) return;  // only an open stream's origin speaks
    origin_fed_ += b.size();
    ex_.on_origin_bytes(b);
    run();
  }
  void origin_open() {
    if (stream_ == Stream::Open || stream_ == Stream::Finished) return;  // the forwarder drops such an answer
    open_stream();
    ex_.on_origin_open();  // a late answer nobody waits for is released
    run();
  }
  void origin_refused(std::uint8_t code) {
    if (stream_ != Stream::Opening) return;
    stream_ = Stream::None;
    ex_.on_origin_refused(static_cast<frame::OpenCode>(1 + code % 8), code % 2 ? "rule 1" : "",
                          "ferry could not reach it.\n");
    run();
  }
  void origin_fin() {
    if (stream_ != Stream::Open) return;
    stream_ = Stream::Finished;
    ex_.on_origin_fin();
    run();
  }
  void origin_reset() {
    if (stream_ != Stream::Open && stream_ != Stream::Finished) return;
    stream_ = Stream::None;
    ex_.on_origin_reset();
    run();
  }
  void origin_takes_early() {
    if (stream_ != Stream::Opening) return;
    early_ = true;
    ex_.on_origin_takes_early();
    run();
  }
  void origin_full() {
    if (stream_ != Stream::Open && !(stream_ == Stream::Opening && early_)) return;
    ex_.on_origin_full();
    run();
  }
  void origin_writable() {
    ex_.on_origin_writable();
    run();
  }
  void drain() {
    ex_.drain();
    run();
  }
  void abort() {
    ex_.abort();
    run();
    client_closed_ = true;
  }
  void toggle_auto_open() { auto_open_ = !auto_open_; }
  void toggle_client_reads() { client_reads_ = !client_reads_; }

 private:
  enum class Stream { None, Opening, Open, Finished };

  static http1::ExchangeRules rules(std::uint8_t settings) {
    http1::ExchangeRules r;
    if (settings & 1)
      r.authorised = [](const http1::RequestHead& head) {
        auto c = http1::proxy_credentials(head);
        return c && *c && (*c)->user == "me" && (*c)->pass == "secret";
      };
    r.draining = (settings & 2) != 0;
    if (!(settings & 4)) r.host_is_local = [](std::string_view host) { return host == "127.0.0.1:3128"; };
    r.status_json = [] { return std::string("{\"agent\":\"running\"}"); };
    return r;
  }

  void open_stream() {
    stream_ = Stream::Open;
    origin_fed_ = credited_ = 0;
    if (!early_) upgrade_asked_ = false;  // with early data the head went on this stream already
    early_ = false;
  }

  void run() {
    for (;;) {
      while (auto a = ex_.next_action()) perform(*a);
      // The relay answers once the actions are out (an Open the exchange cancelled meanwhile is
      // never answered: the forwarder's Release told the pool to forget it).
      if (!auto_open_ || stream_ != Stream::Opening) break;
      open_stream();
      ex_.on_origin_open();
    }
    FERRY_FUZZ_ASSERT(!ex_.closed() || !ex_.wants_client_bytes());
    FERRY_FUZZ_ASSERT(ex_.unwritten_client_bytes() == unwritten_);
    // Client bytes are fed only while the exchange wants them, a record at most 64 KiB.
    FERRY_FUZZ_ASSERT(ex_.inbox_bytes() <= http1::Exchange::kMaxInbox / 2 + 65536);
    FERRY_FUZZ_ASSERT(ex_.waiting_origin_bytes() <= http1::Exchange::kMaxInbox + 2 * 65536);
    // A tunnel that is no CONNECT is an upgrade that the request on this stream asked for.
    if (ex_.client_state() == http1::ClientState::Tunnel && !connect_ &&
        (stream_ == Stream::Open || stream_ == Stream::Finished))
      FERRY_FUZZ_ASSERT(upgrade_asked_);
  }

  void perform(Action& a) {
    // After the close only a stream that answered late is let go; after an error page, the close.
    if (client_closed_) FERRY_FUZZ_ASSERT(a.kind == ActionKind::Release);
    if (error_replied_)
      FERRY_FUZZ_ASSERT(a.kind == ActionKind::Release || a.kind == ActionKind::CloseClient ||
                        a.kind == ActionKind::Log);
    switch (a.kind) {
      case ActionKind::Open:
        FERRY_FUZZ_ASSERT(stream_ == Stream::None);  // the stream before it was let go first
        FERRY_FUZZ_ASSERT(a.target.port != 0);
        stream_ = Stream::Opening;
        early_ = upgrade_asked_ = false;
        return;
      case ActionKind::ToOrigin:
        // Before the answer only on a stream that took early data, and never for a tunnel.
        FERRY_FUZZ_ASSERT(
            stream_ == Stream::Open || stream_ == Stream::Finished ||
            (stream_ == Stream::Opening && early_ && ex_.client_state() != http1::ClientState::Tunnel));
        FERRY_FUZZ_ASSERT(!a.bytes.empty());
        // A request head is one action: the rewrite keeps Upgrade only when the request asked for it.
        if (lower(a.bytes).find("\nupgrade:") != std::string::npos) upgrade_asked_ = true;
        return;
      case ActionKind::FinishOrigin:
        FERRY_FUZZ_ASSERT(stream_ == Stream::Open || stream_ == Stream::Finished);
        return;
      case ActionKind::Release:
        FERRY_FUZZ_ASSERT(stream_ != Stream::None);
        stream_ = Stream::None;
        return;
      case ActionKind::ToClient: {
        FERRY_FUZZ_ASSERT(!a.bytes.empty());
        FERRY_FUZZ_ASSERT(a.credit == 0 || stream_ == Stream::Open || stream_ == Stream::Finished);
        credited_ += a.credit;
        FERRY_FUZZ_ASSERT(credited_ <= origin_fed_);
        if (client_reads_)
          ex_.on_client_written(a.bytes.size());
        else
          unwritten_ += a.bytes.size();
        return;
      }
      case ActionKind::Credit:
        FERRY_FUZZ_ASSERT(stream_ == Stream::Open || stream_ == Stream::Finished);
        credited_ += a.credit;
        FERRY_FUZZ_ASSERT(credited_ <= origin_fed_);
        return;
      case ActionKind::Reply:
        FERRY_FUZZ_ASSERT(is_status(a.status) && !a.bytes.empty());
        if (a.status != 200) error_replied_ = true;
        if (a.status == 200) connect_ = true;  // CONNECT's answer: a tunnel nobody upgraded to
        return;
      case ActionKind::ClientEnded:
        FERRY_FUZZ_ASSERT(client_eof_);
        return;
      case ActionKind::FinishClient:
        return;
      case ActionKind::CloseClient:
      case ActionKind::AbortClient:
        FERRY_FUZZ_ASSERT(ex_.closed());
        client_closed_ = true;
        return;
      case ActionKind::Log:
        FERRY_FUZZ_ASSERT(!a.text.empty());
        return;
    }
    FERRY_FUZZ_ASSERT(false);  // an action kind nobody performs
  }

  http1::Exchange ex_;
  bool auto_open_ = true;
  bool client_reads_ = true;
  bool client_eof_ = false;
  bool client_closed_ = false;
  bool error_replied_ = false;
  Stream stream_ = Stream::None;
  std::size_t origin_fed_ = 0;  // origin bytes on the current stream
  std::size_t credited_ = 0;    // credit given for them
  bool upgrade_asked_ = false;  // a head sent on the current stream carries Upgrade
  bool early_ = false;          // the stream being opened took early data
  bool connect_ = false;        // the exchange answered a CONNECT
  std::size_t unwritten_ = 0;   // ToClient bytes the client has not read
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  if (n == 0) return 0;
  ByteSpan in{p, n};
  Owner owner(in[0]);
  in = in.subspan(1);
  auto take = [&in](std::size_t k) {
    const ByteSpan out = in.first(std::min(k, in.size()));
    in = in.subspan(out.size());
    return out;
  };
  while (!in.empty()) {
    const std::uint8_t tag = in[0] % kTagCount;
    in = in.subspan(1);
    switch (tag) {
      case kClientBytes:
      case kOriginBytes: {
        const ByteSpan len = take(2);
        const std::size_t k = len.size() == 2 ? len[0] | std::size_t{len[1]} << 8 : 0;
        const ByteSpan bytes = take(k);
        if (tag == kClientBytes)
          owner.client_bytes(bytes);
        else
          owner.origin_bytes(bytes);
        break;
      }
      case kClientEof:
        owner.client_eof();
        break;
      case kOriginOpen:
        owner.origin_open();
        break;
      case kOriginRefused: {
        const ByteSpan code = take(1);
        owner.origin_refused(code.empty() ? 0 : code[0]);
        break;
      }
      case kOriginFin:
        owner.origin_fin();
        break;
      case kOriginReset:
        owner.origin_reset();
        break;
      case kOriginFull:
        owner.origin_full();
        break;
      case kOriginWritable:
        owner.origin_writable();
        break;
      case kClientWritten:
        owner.client_written();
        break;
      case kDrain:
        owner.drain();
        break;
      case kAbort:
        owner.abort();
        break;
      case kToggleAutoOpen:
        owner.toggle_auto_open();
        break;
      case kOriginTakesEarly:
        owner.origin_takes_early();
        break;
      case kToggleClientReads:
        owner.toggle_client_reads();
        break;
    }
  }
  return 0;
}
