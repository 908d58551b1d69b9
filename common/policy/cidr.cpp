#include "common/policy/cidr.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/policy/local_addresses.hpp"

namespace ferry::policy {
namespace {

using F = Address::Family;

constexpr Cidr kLoopback[] = {
    {{F::V4, {127}}, 8},
    {{F::V6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, 128},
};
constexpr Cidr kPrivate[] = {
    {{F::V4, {10}}, 8},
    {{F::V4, {172, 16}}, 12},
    {{F::V4, {192, 168}}, 16},
    {{F::V6, {0xfc}}, 7},
};
constexpr Cidr kLinkLocal[] = {
    {{F::V4, {169, 254}}, 16},
    {{F::V6, {0xfe, 0x80}}, 10},
};
constexpr Cidr kMulticast[] = {
    {{F::V4, {224}}, 4},
    {{F::V6, {0xff}}, 8},
    {{F::V4, {255, 255, 255, 255}}, 32},
};
constexpr Cidr kUnspecified[] = {
    {{F::V4, {0}}, 8},
    {{F::V6, {}}, 128},
};

struct SetName {
  NamedSet set;
  std::string_view name;
};
constexpr SetName kSetNames[] = {
    {NamedSet::Loopback, "loopback"},       {NamedSet::Private, "private"},
    {NamedSet::LinkLocal, "link-local"},    {NamedSet::Multicast, "multicast"},
    {NamedSet::Unspecified, "unspecified"}, {NamedSet::Self, "self"},
};

// True when the bits of `a` from position `prefix` on are all zero.
bool host_bits_zero(const Address& a, unsigned prefix) {
  for (unsigned bit = prefix; bit < a.bit_count(); ++bit)
    if (a.bytes[bit / 8] & (0x80u >> (bit % 8))) return false;
  return true;
}

bool in_mapped_block(const Address& a) {
  return std::all_of(a.bytes.begin(), a.bytes.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
         a.bytes[10] == 0xff && a.bytes[11] == 0xff;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

}  // namespace

bool Cidr::contains(const Address& a) const noexcept {
  if (a.family != base.family) return false;
  const unsigned whole = prefix / 8, rest = prefix % 8;
  if (!std::equal(base.bytes.begin(), base.bytes.begin() + whole, a.bytes.begin())) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (a.bytes[whole] & mask) == base.bytes[whole];
}

std::string Cidr::to_string() const { return base.to_string() + "/" + std::to_string(prefix); }

Result<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return fail(Errc::Config, "CIDR needs a /prefix length");
  const auto base = parse_address(text.substr(0, slash));
  if (!base) return fail(Errc::Config, "invalid address before the / of a CIDR");
  const auto len = text.substr(slash + 1);
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (len.empty() || ec != std::errc{} || end != len.data() + len.size() || (len.size() > 1 && len[0] == '0'))
    return fail(Errc::Config, "CIDR prefix length must be a decimal number");
  if (prefix > base->bit_count())
    return fail(Errc::Config, "CIDR prefix length too long (IPv4 /0../32, IPv6 /0../128)");
  if (!host_bits_zero(*base, prefix)) return fail(Errc::Config, "CIDR has host bits set after the prefix");
  if (!base->is_v4() && prefix >= 96 && in_mapped_block(*base))
    return Cidr{base->normalised(), static_cast<std::uint8_t>(prefix - 96)};
  return Cidr{*base, static_cast<std::uint8_t>(prefix)};
}

std::optional<NamedSet> parse_named_set(std::string_view text) {
  for (const auto& s : kSetNames)
    if (iequals(text, s.name)) return s.set;
  return std::nullopt;
}

const char* named_set_name(NamedSet s) noexcept {
  for (const auto& n : kSetNames)
    if (n.set == s) return n.name.data();  // each name is a NUL-terminated literal
  return "?";
}

std::span<const Cidr> named_set_blocks(NamedSet s) {
  switch (s) {
    case NamedSet::Loopback:
      return kLoopback;
    case NamedSet::Private:
      return kPrivate;
    case NamedSet::LinkLocal:
      return kLinkLocal;
    case NamedSet::Multicast:
      return kMulticast;
    case NamedSet::Unspecified:
      return kUnspecified;
    case NamedSet::Self:
      return {};  // not blocks: the host's addresses as they are now
  }
  return {};
}

bool named_set_contains(NamedSet s, const Address& a) {
  if (s == NamedSet::Self) return is_local_address(a);
  const auto blocks = named_set_blocks(s);
  return std::any_of(blocks.begin(), blocks.end(), [&](const Cidr& c) { return c.contains(a); });
}

}  // namespace ferry::policy
