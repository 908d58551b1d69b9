// Finds where a chunked message body ends, RFC 9112 §7.1. The agent forwards the bytes unchanged;
// this scanner only says how many of them belong to the body, so the next message is read from the
// right byte. It keeps a few counters, never the bytes.
//
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG                       "1a"   (at most 16 digits here)
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF     "0"
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   trailer-section = *( field-line CRLF )
//
//   "1a;name=val\r\n" <26 bytes> "\r\n"  "0\r\n"  "Expires: 0\r\n"  "\r\n"
//
// Strict where a lenient reader would disagree with the origin about where the body ends (chunk
// smuggling): a size with no digit or a non-hex digit, more than 16 digits (overflow probes), bytes
// after the size other than BWS followed by ';' extensions, control bytes in an extension, a missing
// CRLF after chunk data, bare CR or bare LF anywhere, and trailer lines that are not "name: value"
// (no obs-fold, no space before the colon). These are Errc::Malformed. An over-long size line or
// trailer section is Errc::Limit.
//
// Works across any split of the input: feeding a body in pieces gives the same answer as feeding it
// whole.
#pragma once

#include <cstdint>

#include "common/codec/byte_reader.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

// Finite bounds on the only parts of a chunked body that are not counted data.
struct ChunkLimits {
  std::size_t max_size_line_bytes = 4 * 1024;  // chunk-size and extensions, without CRLF
  std::size_t max_trailer_bytes = 32 * 1024;   // the whole trailer section, as for a header section
};

class ChunkedScanner {
 public:
  struct Progress {
    std::size_t used = 0;  // bytes at the front of the input that belong to the body
    bool done = false;     // the body ended at in[used - 1]; the rest is the next message
  };

  explicit ChunkedScanner(ChunkLimits limits = {}) noexcept : limits_(limits) {}

  // Scans the next bytes of the body. Once done, further calls use nothing. After an error every
  // further call returns the same error.
  [[nodiscard]] Result<Progress> feed(ByteSpan in);
  [[nodiscard]] bool done() const noexcept { return state_ == State::Done; }

 private:
  enum class State : std::uint8_t {
    Size,
    SizeBws,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed,
  };
  Result<void> step(std::uint8_t c);
  Result<void> step_size_line(std::uint8_t c);
  Result<void> step_trailer(std::uint8_t c);
  Error failed(Errc code, const char* what);

  ChunkLimits limits_;
  State state_ = State::Size;
  std::uint64_t remaining_ = 0;  // chunk-data bytes still to come, or the size being read
  std::size_t digits_ = 0;
  std::size_t line_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  Error error_{Errc::Malformed};
};

}  // namespace ferry::http1
