#include "common/codec/http1_head.hpp"

#include <algorithm>
#include <optional>

namespace ferry::http1 {
namespace {

struct Line {
  std::string_view text;  // without the CRLF
  std::size_t next = 0;   // offset just past the LF
};

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Bytes of a line whose LF has not arrived yet: a byte that can never be valid fails now, so a
// client sending binary garbage (a TLS ClientHello, say) gets its 400 at once instead of at a limit.
Result<void> check_partial(std::string_view rest) {
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const auto c = static_cast<unsigned char>(rest[i]);
    if (c == '\r' && i + 1 < rest.size()) return fail(Errc::Malformed, "http: bare CR");
    if (c != '\r' && c != '\t' && is_ctl(c)) return fail(Errc::Malformed, "http: control byte in a head");
  }
  return {};
}

// The next CRLF-terminated line at `pos`, or nullopt when its LF has not arrived.
Result<std::optional<Line>> next_line(std::string_view in, std::size_t pos) {
  const auto lf = in.find('\n', pos);
  if (lf == std::string_view::npos) {
    if (auto ok = check_partial(in.substr(pos)); !ok) return ok.error();
    return std::optional<Line>{};
  }
  if (lf == pos || in[lf - 1] != '\r') return fail(Errc::Malformed, "http: line ends in a bare LF");
  return std::optional<Line>{Line{in.substr(pos, lf - 1 - pos), lf + 1}};
}

Result<Version> parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
      v[7] > '9')
    return fail(Errc::Malformed, "http: bad HTTP-version");
  if (v[5] != '1') return fail(Errc::BadVersion, "http: not HTTP/1.x");
  // RFC 9112 §2.3: a higher minor version is treated as the highest we implement.
  return v[7] == '0' ? Version::Http10 : Version::Http11;
}

Result<void> parse_request_line(std::string_view line, RequestHead& head) {
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos)
    return fail(Errc::Malformed, "http: request line is not method SP target SP version");
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method)) return fail(Errc::Malformed, "http: method is not a token");
  const bool visible = std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (target.empty() || !visible) return fail(Errc::Malformed, "http: bad request-target");
  auto version = parse_version(line.substr(sp2 + 1));
  if (!version) return version.error();
  head.method = method;
  head.target = target;
  head.version = *version;
  return {};
}

Result<void> parse_status_line(std::string_view line, ResponseHead& head) {
  auto version = parse_version(line.substr(0, 8));
  if (!version) return version.error();
  const auto code = line.substr(std::min<std::size_t>(line.size(), 9), 3);
  const bool digits =
      code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (line.size() < 12 || line[8] != ' ' || !digits) return fail(Errc::Malformed, "http: bad status line");
  const int status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (status < 100 || status > 599) return fail(Errc::Malformed, "http: status code outside 100..599");
  if (line.size() > 12 && line[12] != ' ') return fail(Errc::Malformed, "http: bad status line");
  const auto reason = line.substr(std::min<std::size_t>(line.size(), 13));
  if (!std::all_of(reason.begin(), reason.end(),
                   [](char c) { return is_field_vchar(static_cast<unsigned char>(c)); }))
    return fail(Errc::Malformed, "http: control byte in reason-phrase");
  head.line = StatusLine{*version, status, std::string(reason)};
  return {};
}

Result<Header> parse_field_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t')
    return fail(Errc::Malformed, "http: obs-fold (line folding)");
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return fail(Errc::Malformed, "http: field line without a colon");
  const auto name = line.substr(0, colon);
  if (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
    return fail(Errc::Malformed, "http: whitespace between field name and colon");
  if (!is_token(name)) return fail(Errc::Malformed, "http: field name is not a token");
  const auto value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(),
                   [](char c) { return is_field_vchar(static_cast<unsigned char>(c)); }))
    return fail(Errc::Malformed, "http: control byte in a field value");
  return Header{std::string(name), std::string(value)};
}

// Skips CRLFs before a request line (RFC 9112 §2.2). Returns where the start line begins.
std::size_t skip_empty_lines(std::string_view in) {
  std::size_t pos = 0;
  while (in.size() - pos >= 2 && in[pos] == '\r' && in[pos + 1] == '\n') pos += 2;
  return pos;
}

// The start line: nullopt while its LF is missing, an error past the limit.
Result<std::optional<Line>> start_line(std::string_view in, std::size_t pos, const Limits& limits) {
  auto line = next_line(in, pos);
  if (!line) return line.error();
  const std::size_t len = *line ? (*line)->next - 2 - pos : in.size() - pos;
  // Without its LF, a valid start line shows at most max bytes and its CR.
  if (len > limits.max_start_line_bytes + (*line ? 0 : 1))
    return fail(Errc::TooLarge, "http: start line too long");
  if (*line && (*line)->text.empty()) return fail(Errc::Malformed, "http: empty start line");
  return line;
}

// Field lines from `pos` to the empty line. nullopt while the empty line is missing; `end` is set
// just past it.
Result<std::optional<Headers>> field_section(std::string_view in, std::size_t pos, const Limits& limits,
                                             std::size_t& end) {
  const std::size_t section = pos;
  Headers headers;
  for (;;) {
    auto line = next_line(in, pos);
    if (!line) return line.error();
    const std::size_t seen = (*line ? (*line)->next : in.size()) - section;
    if (seen > limits.max_header_section_bytes) return fail(Errc::Limit, "http: header section too large");
    if (!*line) return std::optional<Headers>{};
    pos = (*line)->next;
    if ((*line)->text.empty()) break;
    if (headers.size() == limits.max_header_count) return fail(Errc::Limit, "http: too many header fields");
    auto field = parse_field_line((*line)->text);
    if (!field) return field.error();
    headers.push_back(std::move(*field));
  }
  end = pos;
  return std::optional<Headers>{std::move(headers)};
}

template <class Head, class ParseStart>
Result<Decoded<Head>> decode_head(ByteSpan bytes, const Limits& limits, std::size_t pos,
                                  ParseStart parse_start) {
  const std::string_view in{reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  if (pos > limits.max_start_line_bytes)
    return fail(Errc::TooLarge, "http: too many empty lines before the request line");
  auto line = start_line(in, pos, limits);
  if (!line) return line.error();
  if (!*line) return Decoded<Head>{};
  Head head;
  if (auto ok = parse_start((*line)->text, head); !ok) return ok.error();
  std::size_t end = 0;
  auto fields = field_section(in, (*line)->next, limits, end);
  if (!fields) return fields.error();
  if (!*fields) return Decoded<Head>{};
  head.headers = std::move(**fields);
  return Decoded<Head>{std::move(head), end};
}

}  // namespace

const char* version_text(Version v) noexcept { return v == Version::Http10 ? "1.0" : "1.1"; }

Result<Decoded<RequestHead>> decode_request_head(ByteSpan in, const Limits& limits) {
  const std::string_view text{reinterpret_cast<const char*>(in.data()), in.size()};
  auto head = decode_head<RequestHead>(in, limits, skip_empty_lines(text), parse_request_line);
  if (!head || !head->msg) return head;
  const auto hosts = count_headers(head->msg->headers, "Host");
  if (hosts > 1) return fail(Errc::Malformed, "http: more than one Host field");
  if (hosts == 0 && head->msg->version == Version::Http11)
    return fail(Errc::Malformed, "http: HTTP/1.1 request without Host");
  return head;
}

Result<Decoded<ResponseHead>> decode_response_head(ByteSpan in, const Limits& limits) {
  return decode_head<ResponseHead>(in, limits, 0, parse_status_line);
}

}  // namespace ferry::http1
