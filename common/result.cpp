#include "common/result.hpp"

#include <cstring>

namespace ferry {

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::Malformed:
      return "malformed";
    case Errc::TooLarge:
      return "too large";
    case Errc::BadVersion:
      return "unsupported version";
    case Errc::Unsupported:
      return "unsupported";
    case Errc::DecryptFailed:
      return "decrypt failed";
    case Errc::BadKey:
      return "bad key";
    case Errc::NonceExhausted:
      return "nonce exhausted";
    case Errc::Refused:
      return "refused";
    case Errc::Replay:
      return "replay";
    case Errc::Timeout:
      return "timeout";
    case Errc::Closed:
      return "closed";
    case Errc::Truncated:
      return "truncated";
    case Errc::Moved:
      return "moved";
    case Errc::TooManyLinks:
      return "too many links";
    case Errc::Io:
      return "i/o error";
    case Errc::Config:
      return "configuration error";
    case Errc::Exists:
      return "already exists";
    case Errc::Limit:
      return "limit reached";
  }
  return "unknown";
}

std::string describe(const Error& e) {
  std::string s = errc_name(e.code);
  if (e.what && *e.what) {
    s += ": ";
    s += e.what;
  }
  if (e.sys != 0) {
    s += " (";
    s += e.sys < 0 ? std::strerror(-e.sys) : std::strerror(e.sys);
    s += ")";
  }
  return s;
}

}  // namespace ferry
