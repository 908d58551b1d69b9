#include "tests/unit/agent_harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>

#include "common/config/relay_config.hpp"

namespace ferry::test {
namespace {

// A loopback port where connections are refused: bound, never listening, and held until the
// harness ends, so that nothing else (the agent's own listener, say) can take it meanwhile.
int refusing_port(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    throw std::runtime_error("refusing_port");
  return ntohs(sa.sin_port);
}

sockaddr_storage loopback_any_port() {
  auto addr = uv::parse_socket_address("127.0.0.1:0");
  if (!addr) throw std::runtime_error("parse_socket_address");
  return *addr;
}

}  // namespace

FakeRelay::FakeRelay(uv_loop_t* loop, const crypto::SecretKey& key, const crypto::PublicKey& agent)
    : loop_(loop), key_(key), listener_(loop, [this](uv_stream_t* s) { on_connection(s); }) {
  admission_.allowed = agent;
  const auto addr = loopback_any_port();
  if (!listener_.listen(reinterpret_cast<const sockaddr*>(&addr))) throw std::runtime_error("relay listen");
}

void FakeRelay::on_connection(uv_stream_t* server) {
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = &key_;
  c.admission = &admission_;
  c.accept_suites = config::link_suites(config::RelayConfig{});  // what a relay with defaults takes
  if (conn_) retired_.push_back(std::move(conn_));
  conn_ = std::make_unique<uv::LinkConnection>(loop_, c, *this, [this](uv::LinkConnection& gone) {
    FakeRelay* self = this;  // erasing destroys this closure
    if (self->conn_.get() == &gone) return self->conn_.reset();
    std::erase_if(self->retired_, [&](const auto& p) { return p.get() == &gone; });
  });
  if (stopped_ || !conn_->accept(server)) conn_->abort();
}

void FakeRelay::on_open(link::StreamId id, const Target& t) {
  streams[id].target = t;
  if (on_open_fn) return on_open_fn(id, t);
  answer(id, frame::OpenCode::Ok);
}

void FakeRelay::on_data(link::StreamId id, ByteSpan b) {
  RelayStream& s = streams[id];
  s.data.insert(s.data.end(), b.begin(), b.end());
  if (s.consume) conn_->mux().consumed(id, b.size(), link::Instant(static_cast<std::int64_t>(uv_now(loop_))));
  if (on_data_fn) on_data_fn(id);
}

void FakeRelay::answer(link::StreamId id, frame::OpenCode code, std::string_view reason) {
  if (link::Mux* m = mux()) m->accept(id, code, reason);
}

void FakeRelay::send(link::StreamId id, ByteSpan bytes) {
  if (link::Mux* m = mux()) m->send(id, bytes);
}

void FakeRelay::send(link::StreamId id, std::string_view text) {
  send(id, ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void FakeRelay::finish(link::StreamId id) {
  if (link::Mux* m = mux()) m->finish(id);
}

void FakeRelay::close_link() {
  if (conn_) conn_->close(frame::CloseCode::Shutdown, "test relay closes the link");
}

link::StreamId FakeRelay::stream_to(const std::string& host) const {
  for (auto it = streams.rbegin(); it != streams.rend(); ++it)
    if (it->second.target.name == host) return it->first;
  return 0;
}

void FakeRelay::stop() {
  stopped_ = true;
  listener_.close();
  if (conn_) conn_->abort();
  for (auto& c : retired_) c->abort();
}

AgentHarness::AgentHarness(AgentOptions options) : options_(options) {
  loop_ = std::make_unique<uv::Loop>();
  relay_ = std::make_unique<FakeRelay>(loop_->get(), relay_key_, agent_key_.public_key());
  const int relay_port = options_.relay_up ? relay_->port() : refusing_port(refusing_fd_);
  config_.relay_address = "127.0.0.1:" + std::to_string(relay_port);
  config_.relay_key = relay_key_.public_key();
  config_.http_listen = "127.0.0.1:0";
  config_.links = 1;  // FakeRelay serves one link at a time
  config_.first_stream_id = options.first_stream_id;
  link_ = std::make_unique<agent::RelaySet>(loop_->get(), config_, agent_key_);
  ctx_.loop = loop_->get();
  ctx_.links = link_.get();
  ctx_.config = &config_;
  ctx_.handshake_timeout_ms = options_.handshake_timeout_ms;
  ctx_.status_json = [] {
    return std::string("{\"link\":\"up\",\"note\":\"a test agent's status page\"}\n");
  };

  listener_ = std::make_unique<uv::TcpListener>(loop_->get(), [this](uv_stream_t* server) {
    auto s = std::make_unique<agent::ClientSession>(ctx_, [this](agent::ClientSession& gone) {
      AgentHarness* self = this;  // erasing destroys this closure
      self->sessions_.erase(&gone);
    });
    agent::ClientSession* raw = s.get();
    sessions_.emplace(raw, std::move(s));
    if (!raw->accept(server)) std::fprintf(stderr, "agent harness: accept failed\n");
  });
  const auto addr = loopback_any_port();
  if (!listener_->listen(reinterpret_cast<const sockaddr*>(&addr))) throw std::runtime_error("agent listen");
  port_ = listener_->local_port();
  if (options_.client_sndbuf > 0) {
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<const uv_handle_t*>(listener_->stream()), &fd);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.client_sndbuf, sizeof options_.client_sndbuf);
  }

  uv_async_init(loop_->get(), &wake_,
                [](uv_async_t* a) { static_cast<AgentHarness*>(a->data)->drain_posted(); });
  wake_.data = this;
  link_->start();
  thread_ = std::thread([this] {
    loop_->run();
    loop_close_ = loop_->close();
  });
  if (options_.relay_up && !wait_until([this] { return link_->pool(0).link(0).up(); }))
    throw std::runtime_error("the agent's link did not come up");
}

AgentHarness::~AgentHarness() {
  post([this] { stop_all(); });
  // A handle left open would keep the loop, and this test, running forever: fail loudly instead.
  auto joined = std::async(std::launch::async, [this] { thread_.join(); });
  if (joined.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "agent harness: the loop did not end (a handle was left open)\n");
    std::abort();
  }
  CHECK(sessions_.empty());
  CHECK(loop_close_ == 0);  // no handle leaked
  if (refusing_fd_ >= 0) ::close(refusing_fd_);
}

void AgentHarness::stop_all() {
  std::vector<agent::ClientSession*> open;
  for (auto& [raw, s] : sessions_) open.push_back(raw);
  for (auto* s : open) s->shutdown();
  listener_->close();
  link_->stop([] {});
  relay_->stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

void AgentHarness::post(std::function<void()> fn) {
  std::promise<void> done;
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back([&] {
      fn();
      done.set_value();
    });
  }
  uv_async_send(&wake_);
  done.get_future().wait();
}

void AgentHarness::drain_posted() {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

bool AgentHarness::wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (on_loop(pred)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace ferry::test
