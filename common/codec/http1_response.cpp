#include "common/codec/http1_response.hpp"

#include <algorithm>
#include <string>

namespace ferry::http1 {
namespace {

bool safe_value(std::string_view v) {
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return is_field_vchar(static_cast<unsigned char>(c)); });
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 414:
      return "URI Too Long";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

Bytes error_response(int status, std::string_view body_text, const Headers& extra) {
  std::string body(body_text);
  if (body.empty() || body.back() != '\n') body += '\n';
  Bytes out;
  put(out, "HTTP/1.1 " + std::to_string(status) + " ");
  put(out, reason_phrase(status));
  put(out, "\r\n");
  put_field(out, "Content-Type", "text/plain; charset=utf-8");
  put_field(out, "Content-Length", std::to_string(body.size()));
  put_field(out, "Connection", "close");
  put_field(out, "X-Content-Type-Options", "nosniff");
  if (status == 407 && !find_header(extra, "Proxy-Authenticate"))
    put_field(out, "Proxy-Authenticate", "Basic realm=\"ferry\"");
  if (status == 503 && !find_header(extra, "Retry-After"))
    put_field(out, "Retry-After", std::to_string(kRetryAfterSeconds));
  for (const auto& h : extra)
    if (is_token(h.name) && safe_value(h.value)) put_field(out, h.name, h.value);
  put(out, "\r\n");
  put(out, body);
  return out;
}

Bytes connect_established() {
  Bytes out;
  put(out, "HTTP/1.1 200 Connection established\r\n\r\n");
  return out;
}

int status_for(frame::OpenCode code) noexcept {
  switch (code) {
    case frame::OpenCode::Ok:
      return 200;
    case frame::OpenCode::Denied:
      return 403;
    case frame::OpenCode::Timeout:
      return 504;
    case frame::OpenCode::Limit:
      return 503;
    case frame::OpenCode::NetworkUnreachable:
    case frame::OpenCode::HostUnreachable:
    case frame::OpenCode::NameNotResolved:
    case frame::OpenCode::Refused:
    case frame::OpenCode::Failure:
      return 502;
  }
  return 502;
}

int status_for(const Error& e) noexcept {
  switch (e.code) {
    case Errc::TooLarge:
      return 414;
    case Errc::Limit:
      return 431;
    case Errc::BadVersion:
      return 505;
    default:
      return 400;
  }
}

}  // namespace ferry::http1
