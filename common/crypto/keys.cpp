#include "common/crypto/keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry::crypto {
namespace {

constexpr std::size_t kBase64Chars = sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL);

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<void> decode_key_base64(std::string_view text, std::uint8_t (&out)[kKeyBytes]) {
  text = trim(text);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out, kKeyBytes, text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != kKeyBytes || end != text.data() + text.size()) {
    sodium_memzero(out, kKeyBytes);
    return fail(Errc::Malformed, "a key must be standard base64 of 32 bytes");
  }
  return {};
}

std::string PublicKey::to_base64() const {
  char buf[kBase64Chars];
  sodium_bin2base64(buf, sizeof buf, bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  return std::string(buf);
}

Result<PublicKey> PublicKey::from_base64(std::string_view text) {
  std::uint8_t raw[kKeyBytes];
  if (auto r = decode_key_base64(text, raw); !r) return r.error();
  PublicKey k;
  std::memcpy(k.bytes.data(), raw, kKeyBytes);
  return k;
}

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_), public_(other.public_) {
  sodium_memzero(other.bytes_.data(), other.bytes_.size());
  other.public_ = PublicKey{};
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    public_ = other.public_;
    sodium_memzero(other.bytes_.data(), other.bytes_.size());
    other.public_ = PublicKey{};
  }
  return *this;
}

void SecretKey::derive_public() noexcept { crypto_scalarmult_base(public_.bytes.data(), bytes_.data()); }

SecretKey SecretKey::generate() {
  SecretKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  k.derive_public();
  return k;
}

SecretKey SecretKey::adopt(std::uint8_t (&raw)[kKeyBytes]) {
  SecretKey k;
  std::memcpy(k.bytes_.data(), raw, kKeyBytes);
  sodium_memzero(raw, kKeyBytes);
  k.derive_public();
  return k;
}

Result<SecretKey> read_key_file(const std::string& path, KeyOwner owner, std::string* refusal) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::Io, "cannot open the key file", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(Errc::Io, "cannot stat the key file", e);
  }
  // Checked on the open file, so that the file read is the file judged.
  if (auto why = key_file_refusal(path, st.st_mode, st.st_uid, ::geteuid(), owner); !why.empty()) {
    ::close(fd);
    if (refusal) *refusal = std::move(why);
    return fail(Errc::Config, "another user owns the key file, or group or others have access to it");
  }
  char text[128];
  ssize_t n = 0;
  std::size_t got = 0;
  while (got < sizeof text && (n = ::read(fd, text + got, sizeof text - got)) > 0)
    got += static_cast<std::size_t>(n);
  const int e = errno;
  ::close(fd);
  if (n < 0) {
    sodium_memzero(text, sizeof text);
    return fail(Errc::Io, "cannot read the key file", e);
  }
  std::uint8_t raw[kKeyBytes];
  auto decoded = decode_key_base64(std::string_view(text, got), raw);
  sodium_memzero(text, sizeof text);
  if (!decoded) return fail(Errc::Malformed, "the key file must hold one line: base64 of 32 bytes");
  return SecretKey::adopt(raw);
}

Result<void> write_new_key_file(const std::string& path, const SecretKey& key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return fail(Errc::Exists, "the key file exists; refusing to overwrite it");
    return fail(Errc::Io, "cannot create the key file", errno);
  }
  char text[kBase64Chars + 1];
  sodium_bin2base64(text, kBase64Chars, key.data(), kKeyBytes, sodium_base64_VARIANT_ORIGINAL);
  const std::size_t len = std::strlen(text);
  text[len] = '\n';
  // The umask can only narrow 0600, but a pre-set default ACL could widen it: fix the mode explicitly.
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t off = 0;
  while (ok && off < len + 1) {
    const ssize_t w = ::write(fd, text + off, len + 1 - off);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) off += static_cast<std::size_t>(w);
  }
  const int e = errno;
  sodium_memzero(text, sizeof text);
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return fail(Errc::Io, "cannot write the key file", e);
  }
  return {};
}

}  // namespace ferry::crypto
