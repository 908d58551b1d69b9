#include "common/codec/http1_chunked.hpp"

#include <algorithm>

#include "common/codec/http1_grammar.hpp"

namespace ferry::http1 {
namespace {

constexpr std::size_t kMaxSizeDigits = 16;  // 64 bits: more digits are an overflow probe, not a size

int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Error ChunkedScanner::failed(Errc code, const char* what) {
  state_ = State::Failed;
  error_ = fail(code, what);
  return error_;
}

Result<ChunkedScanner::Progress> ChunkedScanner::feed(ByteSpan in) {
  if (state_ == State::Failed) return error_;
  std::size_t i = 0;
  while (i < in.size() && state_ != State::Done) {
    if (state_ == State::Data) {
      // Chunk data is counted, not looked at: this is where nearly all body bytes go.
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
      remaining_ -= n;
      i += n;
      if (remaining_ == 0) state_ = State::DataCr;
      continue;
    }
    if (auto ok = step(in[i]); !ok) return ok.error();
    ++i;
  }
  return Progress{i, state_ == State::Done};
}

Result<void> ChunkedScanner::step(std::uint8_t c) {
  switch (state_) {
    case State::Size:
    case State::SizeBws:
    case State::Ext:
    case State::SizeLf:
      return step_size_line(c);
    case State::DataCr:
      if (c != '\r') return failed(Errc::Malformed, "chunked: no CRLF after chunk data");
      state_ = State::DataLf;
      return {};
    case State::DataLf:
      if (c != '\n') return failed(Errc::Malformed, "chunked: no CRLF after chunk data");
      state_ = State::Size;
      digits_ = line_bytes_ = 0;
      return {};
    case State::Data:
    case State::Done:
    case State::Failed:
      return {};  // not reached: feed() handles these
    default:
      return step_trailer(c);
  }
}

Result<void> ChunkedScanner::step_size_line(std::uint8_t c) {
  if (state_ == State::SizeLf) {
    if (c != '\n') return failed(Errc::Malformed, "chunked: bare CR in a chunk-size line");
    state_ = remaining_ == 0 ? State::TrailerStart : State::Data;
    return {};
  }
  if (c != '\r' && ++line_bytes_ > limits_.max_size_line_bytes)
    return failed(Errc::Limit, "chunked: chunk-size line too long");
  const int v = hex_value(c);
  if (state_ == State::Size && v >= 0) {
    if (++digits_ > kMaxSizeDigits) return failed(Errc::Malformed, "chunked: chunk size over 16 hex digits");
    remaining_ = remaining_ << 4 | static_cast<std::uint64_t>(v);
    return {};
  }
  if (state_ == State::Size && digits_ == 0)
    return failed(Errc::Malformed, "chunked: chunk size has no digits");
  if (c == '\r' && state_ != State::SizeBws) {
    state_ = State::SizeLf;
  } else if (state_ == State::Ext) {
    if (!is_field_vchar(c)) return failed(Errc::Malformed, "chunked: control byte in a chunk extension");
  } else if (c == ';') {
    state_ = State::Ext;
  } else if (c == ' ' || c == '\t') {
    state_ = State::SizeBws;
  } else {
    return failed(Errc::Malformed, "chunked: bad chunk size");
  }
  return {};
}

Result<void> ChunkedScanner::step_trailer(std::uint8_t c) {
  if (++trailer_bytes_ > limits_.max_trailer_bytes)
    return failed(Errc::Limit, "chunked: trailer section too large");
  switch (state_) {
    case State::TrailerStart:
      if (c == '\r') {
        state_ = State::FinalLf;
      } else if (is_tchar(c)) {
        state_ = State::TrailerName;
      } else {
        return failed(Errc::Malformed, "chunked: bad trailer line");
      }
      return {};
    case State::TrailerName:
      if (c == ':')
        state_ = State::TrailerValue;
      else if (!is_tchar(c))
        return failed(Errc::Malformed, "chunked: bad trailer field name");
      return {};
    case State::TrailerValue:
      if (c == '\r')
        state_ = State::TrailerLf;
      else if (!is_field_vchar(c))
        return failed(Errc::Malformed, "chunked: control byte in a trailer value");
      return {};
    case State::TrailerLf:
    case State::FinalLf:
      if (c != '\n') return failed(Errc::Malformed, "chunked: bare CR in the trailer section");
      state_ = state_ == State::FinalLf ? State::Done : State::TrailerStart;
      return {};
    default:
      return failed(Errc::Malformed, "chunked: internal state");
  }
}

}  // namespace ferry::http1
