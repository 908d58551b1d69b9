#include "relay/admin_server.hpp"

#include "common/codec/http1_head.hpp"
#include "common/codec/http1_response.hpp"
#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::relay {

AdminServer::AdminServer(uv_loop_t* loop, const Metrics& metrics, const LinkPlacement& placement,
                         std::function<bool()> draining)
    : loop_(loop),
      metrics_(metrics),
      placement_(placement),
      draining_(std::move(draining)),
      listener_(loop, [this](uv_stream_t* s) { on_connection(s); }) {}

Result<void> AdminServer::start(const std::string& listen) {
  auto addr = uv::parse_socket_address(listen);
  if (!addr) return addr.error();
  if (auto r = listener_.listen(reinterpret_cast<const sockaddr*>(&*addr)); !r) return r;
  listening_ = true;
  log::info("relay",
            "admin listening on " + listener_.local_address() + " (GET /metrics, GET /healthz, GET /health)");
  return {};
}

void AdminServer::stop(std::function<void()> done) {
  for (auto& [p, c] : clients_) c->abort(frame::ResetCode::Cancel);
  listener_.close(std::move(done));  // initialised in the constructor, so closed even if never listening
}

void AdminServer::on_connection(uv_stream_t* server) {
  auto pipe = std::make_unique<uv::TcpConnection>(loop_, [this](uv::TcpConnection& p) {
    inboxes_.erase(&p);  // the pipe calls this from a copy of its own
    clients_.erase(&p);
  });
  uv::TcpConnection* raw = pipe.get();
  clients_.emplace(raw, std::move(pipe));
  if (raw->accept_from(server) != 0) return raw->close_after_writes();
  if (clients_.size() > kMaxClients) return raw->abort(frame::ResetCode::Cancel);
  // A deadline, not an idle timer: a byte every few seconds must not hold a connection for hours.
  raw->set_deadline(kRequestDeadlineMs);
  raw->read_raw([this, raw](ByteSpan b) { on_request(*raw, inboxes_[raw], b); });
}

void AdminServer::on_request(uv::TcpConnection& pipe, Bytes& inbox, ByteSpan bytes) {
  if (bytes.empty()) return pipe.abort(frame::ResetCode::Cancel);
  inbox.insert(inbox.end(), bytes.begin(), bytes.end());
  auto d = http1::decode_request_head(inbox);
  if (d && !d->msg && inbox.size() < 16 * 1024) return;  // need more
  pipe.stop_raw();
  std::string body, type = "text/plain; charset=utf-8";
  int status = 200;
  if (!d || !d->msg) {
    status = 400;
    body = "malformed request\n";
  } else if (d->msg->method != "GET") {
    status = 405;
    body = "GET only\n";
  } else if (d->msg->target == "/metrics") {
    body = metrics_.render(placement_.links());
    type = "text/plain; version=0.0.4";
  } else if (d->msg->target == "/healthz") {
    body = "ok\n";
  } else if (d->msg->target == "/health") {
    const bool draining = draining_ && draining_();
    status = draining ? 503 : 200;
    body = draining ? "draining: no new links; open streams finish\n" : "serving\n";
  } else {
    status = 404;
    body = "GET /metrics, GET /healthz or GET /health\n";
  }
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(http1::reason_phrase(status)) +
                     "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
  pipe.set_idle_timeout(kRequestDeadlineMs);  // the answer: a reader that stops reading is cut
  pipe.write_now(Bytes(head.begin(), head.end()));
  pipe.write_now(Bytes(body.begin(), body.end()));
  pipe.close_after_writes();
}

}  // namespace ferry::relay
