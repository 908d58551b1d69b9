#include "agent/http_forwarder.hpp"

#include "agent/local_host.hpp"
#include "agent/proxy_words.hpp"
#include "common/log.hpp"

namespace ferry::agent {
namespace {

// What the exchange asks the agent: credentials, whether a Host names this port, the status page.
// Each is read when a request asks (the config and the status callback belong to the context).
http1::ExchangeRules rules_for(AgentContext& ctx, const sockaddr_storage& local) {
  http1::ExchangeRules rules;
  rules.authorised = [&ctx](const http1::RequestHead& head) { return http_authorised(*ctx.config, head); };
  rules.host_is_local = [local](std::string_view host) {
    return host_names_listener(host, reinterpret_cast<const sockaddr*>(&local));
  };
  rules.local_host_hint = listener_host_hint(reinterpret_cast<const sockaddr*>(&local));
  if (ctx.status_json) rules.status_json = [&ctx] { return ctx.status_json(); };
  if (ctx.status_html) rules.status_html = [&ctx] { return ctx.status_html(); };
  if (ctx.proxy_pac) rules.proxy_pac = [&ctx] { return ctx.proxy_pac(); };
  rules.draining = ctx.draining;
  return rules;
}

}  // namespace

HttpForwarder::HttpForwarder(AgentContext& ctx, uv::TcpConnection& client, std::string peer,
                             const sockaddr_storage& local, bool may_go_direct)
    : ctx_(ctx),
      client_(client),
      peer_(std::move(peer)),
      local_(local),
      exchange_(rules_for(ctx, local)),
      may_go_direct_(may_go_direct) {}

HttpForwarder::~HttpForwarder() = default;

void HttpForwarder::end(bool clean) {
  if (std::exchange(early_, false)) clean = false;  // unanswered: nothing of it is owed to anyone
  ctx_.links->cancel(this);
  opening_.reset(frame::ResetCode::Cancel);
  direct_opening_.reset();
  if (clean)
    stream_.leave();
  else
    stream_.reset(frame::ResetCode::Cancel);
  if (direct_ && clean) direct_->leave();
  direct_.reset();
}

void HttpForwarder::on_client_bytes(ByteSpan bytes) {
  exchange_.on_client_bytes(bytes);
  run();
}

void HttpForwarder::on_client_eof() {
  exchange_.on_client_eof();
  run();
}

// A plain request never waits for the relay (docs/spec.md 6.11): on a link that takes early data, its
// head and body follow the OPEN at once, and an error page still comes from the relay's answer.
void HttpForwarder::on_open_sent(const link::StreamRef& ref) {
  opening_ = ref;
  const link::Mux* mux = ref.mux();
  if (!mux || !mux->early_data() || origin_attached() ||
      exchange_.client_state() == http1::ClientState::Tunnel)
    return;
  stream_ = std::exchange(opening_, {});
  early_ = true;
  sent_ = received_ = 0;
  opened_ms_ = uv_now(ctx_.loop);
  exchange_.on_origin_takes_early();
  run();
}

void HttpForwarder::on_open_result(const frame::OpenResult& r) {
  if (direct_opening_) return on_direct_result(r);
  if (std::exchange(early_, false)) {  // the request went already; this is the relay's answer to it
    if (r.code != frame::OpenCode::Ok) {
      stream_.drop();  // a refused stream is gone already
      ctx_.warm.forget(exchange_.origin());
      ctx_.refusals.add(peer_, exchange_.origin().to_string(), r);
      exchange_.on_origin_refused(r.code, r.reason, explain(r, exchange_.origin()));
    } else {
      ctx_.warm.reached(exchange_.origin(), uv_now(ctx_.loop), ctx_.routes_version);
      exchange_.on_origin_open();
    }
    return run();
  }
  link::StreamRef answered = std::exchange(opening_, {});
  if (r.code != frame::OpenCode::Ok) {
    ctx_.refusals.add(peer_, exchange_.origin().to_string(), r);
    exchange_.on_origin_refused(r.code, r.reason, explain(r, exchange_.origin()));
  } else if (origin_attached()) {  // the exchange rides another stream: this answer is nobody's
    answered.reset(frame::ResetCode::Cancel);
  } else {
    ctx_.warm.reached(exchange_.origin(), uv_now(ctx_.loop), ctx_.routes_version);
    stream_ = answered;
    sent_ = received_ = 0;
    opened_ms_ = uv_now(ctx_.loop);
    exchange_.on_origin_open();  // releases it again if the exchange no longer waits for it
  }
  run();
}

// Split mode: the origin is outside the routes, and this computer dialled it. One line per origin
// connection says so.
void HttpForwarder::on_direct_result(const frame::OpenResult& r) {
  DirectStream::Ptr answered = std::move(direct_opening_);
  if (r.code != frame::OpenCode::Ok) {
    ctx_.refusals.add(peer_, exchange_.origin().to_string(), r);
    exchange_.on_origin_refused(r.code, r.reason, explain(r, exchange_.origin()));
  } else if (!origin_attached()) {
    log::info("agent", peer_ + " HTTP: " + exchange_.origin().to_string() +
                           " directly from this computer (outside the routes), connected to " +
                           answered->dialled());
    direct_ = std::move(answered);
    ++direct_generation_;
    sent_ = received_ = 0;
    opened_ms_ = uv_now(ctx_.loop);
    exchange_.on_origin_open();
  }
  run();
}

void HttpForwarder::on_data(ByteSpan bytes) {
  received_ += bytes.size();
  exchange_.on_origin_bytes(bytes);
  run();
}

void HttpForwarder::on_fin() {
  exchange_.on_origin_fin();
  run();
}

void HttpForwarder::on_reset(frame::ResetCode) {
  early_ = false;
  stream_.drop();  // gone, and its queue with it: nothing to release
  direct_.reset();
  exchange_.on_origin_reset();
  run();
}

void HttpForwarder::on_writable() {
  exchange_.on_origin_writable();
  run();
}

void HttpForwarder::shutdown() {
  exchange_.abort();  // the session closes the client itself
  run();
}

void HttpForwarder::drain() {
  exchange_.drain();
  run();
}

void HttpForwarder::run() {
  while (auto a = exchange_.next_action()) perform(*a);
  // Once closed, the pipe reads (and drops) until the client's end on its own, or is gone.
  if (exchange_.closed()) return;
  if (exchange_.wants_client_bytes())
    client_.resume_raw();
  else
    client_.pause_raw();
}

void HttpForwarder::perform(http1::Action& a) {
  using Kind = http1::ActionKind;
  switch (a.kind) {
    case Kind::Open:
      if (may_go_direct_ && ctx_.goes_direct && ctx_.goes_direct(a.target)) {
        direct_opening_ = DirectStream::make(ctx_.loop, a.target, ctx_.direct_lookups, *this);
        return direct_opening_->start();  // the answer comes to on_open_result, perhaps at once
      }
      return ctx_.links->open(a.target, this);  // the answer comes to on_open_result
    case Kind::ToOrigin:
      // A stream whose link is gone takes the bytes: its reset is on its way.
      sent_ += a.bytes.size();
      if (!(direct_ ? direct_->send(a.bytes) : stream_.send(a.bytes))) exchange_.on_origin_full();
      return;
    case Kind::FinishOrigin:
      if (direct_) return direct_->finish();
      return stream_.finish();
    case Kind::Release:
      return release_stream();
    case Kind::ToClient:
      return write_to_client(a);
    case Kind::Credit:
      if (direct_) return direct_->consumed(a.credit);
      return stream_.consumed(a.credit, now());
    case Kind::Reply:
      return client_.write_now(std::move(a.bytes));
    case Kind::ClientEnded:
      return client_.mark_read_done();
    case Kind::FinishClient:
      return client_.shutdown_after_writes();
    case Kind::CloseClient:
      if (log::enabled(log::Level::Debug)) log::debug("agent", peer_ + " HTTP: closing (" + a.text + ")");
      client_.pause_raw();
      return client_.close_after_writes();
    case Kind::AbortClient:
      if (log::enabled(log::Level::Debug))
        log::debug("agent", peer_ + " HTTP: closing idle (" + a.text + ")");
      return client_.abort(frame::ResetCode::Cancel);
    case Kind::Log:
      return log::info("agent", peer_ + " " + a.text);
  }
}

// Credit goes back once the client has the bytes: a slow client slows only its own origin. The ref
// is the stream's of the moment: a stream since released, or of a link since gone, takes no credit.
void HttpForwarder::write_to_client(http1::Action& a) {
  const link::StreamRef stream = stream_;
  const std::uint64_t direct = direct_ ? direct_generation_ : 0;
  const std::size_t credit = a.credit;
  const std::size_t size = a.bytes.size();
  client_.write_now(std::move(a.bytes), [this, stream, direct, credit, size] {
    if (credit > 0 && direct == 0) stream.consumed(credit, now());
    if (credit > 0 && direct != 0 && direct == direct_generation_ && direct_) direct_->consumed(credit);
    exchange_.on_client_written(size);
    run();
  });
}

void HttpForwarder::release_stream() {
  if (!origin_attached()) {  // the open under way is cancelled
    ctx_.links->cancel(this);
    opening_.reset(frame::ResetCode::Cancel);
    direct_opening_.reset();
  }
  early_ = false;
  stream_.reset(frame::ResetCode::Cancel);
  direct_.reset();
}

std::optional<StreamSnapshot> HttpForwarder::snapshot() const {
  if (!origin_attached()) return std::nullopt;
  return StreamSnapshot{peer_, exchange_.origin().to_string() + (direct_ ? " (direct)" : ""), sent_,
                        received_, (uv_now(ctx_.loop) - opened_ms_) / 1000};
}

link::Instant HttpForwarder::now() const noexcept {
  return link::Instant(static_cast<std::int64_t>(uv_now(ctx_.loop)));
}

}  // namespace ferry::agent
