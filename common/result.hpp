// Result<T>: a value or an Error, shaped like C++23 std::expected so it can be swapped for it later.
// Errors are values, never exceptions: they cross libuv callbacks safely.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ferry {

// One flat list of failures (the boringtun noise/errors.rs shape). Protocol replies are derived from
// these in one table per protocol, never by matching on strings.
enum class Errc {
  Malformed,       // bytes that break the grammar
  TooLarge,        // a length beyond a limit
  BadVersion,      // a version we do not speak
  Unsupported,     // a valid request for something we do not do
  DecryptFailed,   // AEAD tag mismatch
  BadKey,          // small-order or malformed public key
  NonceExhausted,  // the reserved nonce 2^64-1 would be used
  Refused,         // the peer's key is not admitted
  Replay,          // a handshake timestamp that is not newer than the last accepted one
  Timeout,
  Closed,     // the peer ended the link with an authenticated close
  Truncated,  // the byte stream ended without an authenticated close
  Io,         // a system call failed; `code` holds the errno/uv error
  Config,
  Exists,        // a file we refuse to overwrite
  Limit,         // a configured or built-in limit was reached
  TooManyLinks,  // the relay closed the link: it holds as many links of this key as it admits
  Moved,         // a resume for a session another relay thread holds: hand the connection over
};

const char* errc_name(Errc e) noexcept;

struct Error {
  Errc code;
  const char* what = "";  // static text: where, in the reader's words
  int sys = 0;            // errno or uv error, when there is one
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}      // NOLINT: implicit, like expected
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  explicit operator bool() const noexcept { return ok_; }
  bool has_value() const noexcept { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return err_;
  }

 private:
  Error err_{Errc::Malformed};
  bool ok_ = true;
};

inline Error fail(Errc code, const char* what, int sys = 0) { return Error{code, what, sys}; }

// "errc: what" (and the system error number when set), for log lines and error pages.
std::string describe(const Error& e);

}  // namespace ferry
