#include "common/link/record_codec.hpp"

#include <algorithm>

namespace ferry::link {

Result<Decoded<ByteSpan>> decode_record(ByteSpan in, RecordKind kind) {
  ByteReader r(in);
  const auto len = r.be16();
  if (!len) return Decoded<ByteSpan>{};
  if (*len == 0) return fail(Errc::Malformed, "an empty record");
  // Only a handshake record can pass its limit: 65535 is the most a 2-byte length says.
  if (*len > max_record_body(kind)) return fail(Errc::TooLarge, "an oversized handshake record");
  const auto body = r.take(*len);
  if (!body) return Decoded<ByteSpan>{};
  return Decoded<ByteSpan>{*body, r.used()};
}

Result<std::optional<MutByteSpan>> RecordReader::next(MutByteSpan& in, RecordKind kind) {
  using Next = std::optional<MutByteSpan>;
  if (partial_.empty()) {
    auto whole = decode_record(in, kind);
    if (!whole) return whole.error();
    if (whole->msg) {  // whole in this read: used where it lies
      const MutByteSpan body = in.subspan(kRecordHeaderBytes, whole->used - kRecordHeaderBytes);
      in = in.subspan(whole->used);
      return Next(body);
    }
  }
  auto gather = [&](std::size_t upto) {
    const std::size_t take = std::min(upto - partial_.size(), in.size());
    partial_.insert(partial_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
    in = in.subspan(take);
    return partial_.size() == upto;
  };
  if (partial_.size() < kRecordHeaderBytes) {
    if (!gather(kRecordHeaderBytes)) return Next();
    if (auto header = decode_record(partial_, kind); !header) return header.error();
    partial_.reserve(kRecordHeaderBytes + get_be16(partial_.data()));
  }
  if (!gather(kRecordHeaderBytes + get_be16(partial_.data()))) return Next();
  partial_.swap(done_);
  partial_.clear();
  return Next(MutByteSpan(done_).subspan(kRecordHeaderBytes));
}

void RecordReader::trim() noexcept {
  Bytes().swap(done_);
  if (partial_.empty()) Bytes().swap(partial_);
}

void append_record(Bytes& out, ByteSpan message) {
  const std::size_t record = begin_record(out);
  put_be16(out.data() + record, static_cast<std::uint16_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
}

std::size_t begin_record(Bytes& out) {
  const std::size_t record = out.size();
  out.resize(record + kRecordHeaderBytes);
  return record;
}

Result<std::size_t> seal_record(Bytes& out, std::size_t record, crypto::CipherState& keys) {
  const std::size_t plain = record + kRecordHeaderBytes;
  const std::size_t plain_len = out.size() - plain;
  out.resize(out.size() + crypto::kTagBytes);
  auto sealed = keys.encrypt({}, out.data() + plain, plain_len, out.data() + plain);
  if (!sealed) {
    out.resize(record);
    return sealed.error();
  }
  put_be16(out.data() + record, static_cast<std::uint16_t>(*sealed));
  return *sealed;
}

Result<MutByteSpan> open_record(MutByteSpan body, crypto::CipherState& keys) {
  auto n = keys.decrypt({}, body.data(), body.size(), body.data());
  if (!n) return n.error();
  return body.first(*n);
}

}  // namespace ferry::link
