#include "agent/agent_server.hpp"

#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20 || c >= 0x7F) out += '?';
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

}  // namespace

AgentServer::AgentServer(uv_loop_t* loop, config::AgentConfig config, crypto::SecretKey key)
    : loop_(loop), config_(std::move(config)), key_(std::move(key)), link_(loop, config_, key_) {
  ctx_.loop = loop;
  ctx_.link = &link_;
  ctx_.config = &config_;
  ctx_.status_json = [this] { return status_json(); };
}

AgentServer::~AgentServer() = default;

Result<void> AgentServer::start() {
  started_ms_ = uv_now(loop_);
  for (const auto* listen : {&config_.http_listen, &config_.socks_listen}) {
    if (!*listen) continue;
    auto addr = uv::parse_socket_address(**listen);
    if (!addr) return addr.error();
    auto l = std::make_unique<uv::TcpListener>(loop_, [this](uv_stream_t* s) { on_connection(s); });
    if (auto r = l->listen(reinterpret_cast<const sockaddr*>(&*addr)); !r) return r;
    log::info("agent", "listening on " + l->local_address() + " (HTTP, SOCKS5, SOCKS4)");
    listeners_.push_back(std::move(l));
  }
  listeners_open_ = listeners_.size();
  uv_signal_init(loop_, &sigterm_);
  uv_signal_init(loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, [](uv_signal_t* s, int) { static_cast<AgentServer*>(s->data)->stop(); }, SIGTERM);
  uv_signal_start(&sigint_, [](uv_signal_t* s, int) { static_cast<AgentServer*>(s->data)->stop(); }, SIGINT);
  link_.start();
  return {};
}

void AgentServer::on_connection(uv_stream_t* server) {
  auto s = std::make_unique<ClientSession>(ctx_, [this](ClientSession& gone) {
    // Erasing destroys the session, and with it this very closure: keep `this` in a local first.
    AgentServer* self = this;
    self->sessions_.erase(&gone);
    self->maybe_exit();
  });
  ClientSession* raw = s.get();
  sessions_.emplace(raw, std::move(s));
  if (auto r = raw->accept(server); !r) {
    log::warn("agent", "cannot accept a client: " + describe(r.error()));  // EMFILE: shed, do not spin
    return;
  }
  if (stopping_ || sessions_.size() > kMaxClients) raw->shutdown();
}

void AgentServer::stop() {
  if (std::exchange(stopping_, true)) return;
  log::info("agent", "stopping");
  for (auto& l : listeners_) l->close([this] {
    --listeners_open_;
    maybe_exit();
  });
  for (auto& [p, s] : sessions_) s->shutdown();
  link_.stop([this] {
    link_stopped_ = true;
    maybe_exit();
  });
}

void AgentServer::maybe_exit() {
  if (!stopping_ || listeners_open_ > 0 || !sessions_.empty() || !link_stopped_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  log::info("agent", "stopped");
}

std::string AgentServer::status_json() const {
  const LinkStatus s = link_.status();
  std::string j = "{";
  j += "\"link\":" + json_string(s.state);
  j += ",\"relay\":" + json_string(s.relay);
  j += ",\"rtt_ms\":" + (s.rtt_ms ? std::to_string(*s.rtt_ms) : std::string("null"));
  j += ",\"open_streams\":" + std::to_string(s.streams);
  j += ",\"clients\":" + std::to_string(sessions_.size());
  j += ",\"bytes_sent\":" + std::to_string(s.bytes_sent);
  j += ",\"bytes_received\":" + std::to_string(s.bytes_received);
  j += ",\"connected_for_s\":" + (s.connected_for_s ? std::to_string(*s.connected_for_s) : std::string("null"));
  j += ",\"last_error\":" + (s.last_error.empty() ? std::string("null") : json_string(s.last_error));
  j += ",\"uptime_s\":" + std::to_string((uv_now(loop_) - started_ms_) / 1000);
  return j + "}\n";
}

}  // namespace ferry::agent
