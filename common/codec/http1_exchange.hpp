// The HTTP/1.1 forward proxy on one client connection, sans I/O (RFC 9110 §7.6, RFC 9112): bytes
// from the client and from the origin go in, actions come out, and the owner (agent/http_forwarder)
// performs them on the socket and the link. Nothing here touches a socket, a clock or the logger.
//
//   client bytes ─▶ [inbox] ─▶ request head ─▶ Host check, auth, local page, or:
//                                 Open(origin) ─▶ ToOrigin(origin-form head) ─▶ ToOrigin(body)
//   origin bytes ─▶ response head ─▶ ToClient(rewritten head, credit) ─▶ ToClient(body) ─▶ next request
//
// - Requests in absolute-form are re-issued in origin-form (http1_rewrite.hpp), one exchange at a
//   time; pipelined requests wait in the inbox until the response before them is done. A stream is
//   kept for the next request to the same origin while both sides allow it; another origin gets a
//   new stream (Release, then Open).
// - Bodies pass through as they are: by Content-Length, chunked (ChunkedScanner finds the end) or,
//   for responses, until the origin closes.
// - 1xx interim responses pass through and the final one follows. A 101 to a request that asked to
//   upgrade, and a CONNECT after other requests, make the connection a tunnel; a 101 to a request that
//   did not ask is a 502 and nothing more is forwarded, so pipelined requests (perhaps for another
//   origin, with their Proxy-Authorization) never flow into a protocol nobody chose.
// - Local pages (origin-form: GET / the status page, GET /status its JSON, and the 404 that explains the
// port) answer only a Host
//   the owner says names its port (DNS rebinding); that check comes before the 407, so a rebound page
//   gets no password prompt either.
// - Errors are real HTTP responses (Reply, then CloseClient) with the status of http1_response.hpp's
//   table: a request that does not parse 400/414/431/505, a bad target or body framing 400, missing
//   credentials 407, another Host for a local page 421, the agent draining 503, an origin that could
//   not be reached status_for(OpenCode), and an origin that answered badly (malformed head, head over
//   64 KiB, bad framing, unasked 101, closed or reset before its head) 502. Once a response head went
//   to the client, a failure can only cut the connection.
//
// Flow control: a ToClient's `credit` is how many origin bytes it carries; the owner gives them back
// to the stream once the client has them, and tells on_client_written(). While the client leaves
// kMaxInbox bytes unread, no further pipelined request starts; wants_client_bytes() says when to stop
// reading the client (inbox or bytes waiting for the stream past half of kMaxInbox, the stream's
// queue full, the client not reading).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/codec/byte_reader.hpp"
#include "common/codec/http1_body.hpp"
#include "common/codec/http1_chunked.hpp"
#include "common/codec/http1_head.hpp"
#include "common/codec/http1_target.hpp"
#include "common/codec/link_frame.hpp"
#include "common/codec/target.hpp"

namespace ferry::http1 {

// Where the client's side of the connection stands.
enum class ClientState : std::uint8_t {
  Head,     // waiting for the next request head (pipelined ones wait in the inbox)
  Body,     // forwarding the request body; the response may already be coming
  Waiting,  // the request went whole; its response is under way
  Tunnel,   // CONNECT or an accepted upgrade: bytes flow both ways as they are
  Closed,   // the exchange ended the connection (or was aborted): every input is ignored
};
// Where the origin's answer stands.
enum class ResponseState : std::uint8_t {
  None,  // no request is outstanding
  Head,  // reading the response head (interim 1xx heads pass through and the final one follows)
  Body,  // the head went to the client; forwarding the body
};
// The stream to the origin.
enum class OriginState : std::uint8_t {
  None,     // no stream
  Opening,  // asked for, not answered yet: bytes for it wait in the exchange
  Open,     // open (between exchanges: kept for the next request to the same origin)
  Full,     // open, and its send queue is above its high watermark: the client is not read
};

enum class ActionKind : std::uint8_t {
  Open,          // open a stream to `target` (any stream before it was released first)
  ToOrigin,      // send `bytes` on the stream
  FinishOrigin,  // half-close the stream: a FIN after its queued bytes
  Release,       // let go of the stream (reset it), or cancel the Open under way
  ToClient,      // write `bytes`; once written, give `credit` back to the stream that is current now
                 // and call on_client_written(bytes.size())
  Credit,        // give `credit` back to the stream now (origin bytes dropped unwritten)
  Reply,         // write the exchange's own answer `bytes` (HTTP `status`): an error page before
                 // CloseClient, or CONNECT's 200 before the tunnel; nothing to report back
  ClientEnded,   // the client's EOF was passed on to the origin (its reading is done)
  FinishClient,  // the origin's FIN: end the client's side once every byte before it is written
  CloseClient,   // close the client once its writes are out, reading and dropping what it still sends
  AbortClient,   // close the client now: nothing is owed (an idle connection while the agent drains)
  Log,           // a decision worth a log line: `text` (never credentials or payload)
};

[[nodiscard]] const char* name(ClientState s) noexcept;
[[nodiscard]] const char* name(ResponseState s) noexcept;
[[nodiscard]] const char* name(OriginState s) noexcept;
[[nodiscard]] const char* name(ActionKind k) noexcept;

struct Action {
  ActionKind kind = ActionKind::Log;
  Bytes bytes;             // ToOrigin, ToClient, Reply
  std::size_t credit = 0;  // ToClient (once written), Credit
  int status = 0;          // Reply; ToClient of a local page (200); 0 for origin bytes
  Target target;           // Open
  std::string text;        // Log; CloseClient and AbortClient: the states it closed in (describe())
};

// What the exchange asks its owner. Each may be left empty.
struct ExchangeRules {
  // The request's Proxy-Authorization is good (proxy_credentials() against the configured pair, in
  // constant time). Empty: no credentials are needed.
  std::function<bool(const RequestHead&)> authorised;
  // `host` (a Host field value) names the port the client connected to. Empty: no Host does, and
  // every local page is a 421.
  std::function<bool(std::string_view host)> host_is_local;
  // How the 421 tells the user which Host works.
  std::string local_host_hint = "127.0.0.1:PORT or localhost:PORT";
  // The JSON of GET /status. Empty: no status page (404).
  std::function<std::string()> status_json;
  // The HTML page of GET / (agent/status_page.hpp). Empty: 404 there too.
  std::function<std::string()> status_html;
  // The proxy auto-config of GET /proxy.pac (agent/pac_file.hpp). Empty: 404.
  std::function<std::string()> proxy_pac;
  // The agent drains already: new requests get 503 (local pages still answer).
  bool draining = false;
};

class Exchange {
 public:
  // Unprocessed client bytes (pipelined requests) held before reading pauses, and client bytes left
  // unwritten before the next pipelined request waits (a client that pipelines GET /status without
  // reading the answers would otherwise turn a small request into an unbounded write queue).
  static constexpr std::size_t kMaxInbox = 256 * 1024;
  // A response head larger than this is a 502: no real origin sends one, and it is buffered whole.
  static constexpr std::size_t kMaxResponseHead = 64 * 1024;

  explicit Exchange(ExchangeRules rules = {});

  // Client side: every byte after the protocol was recognised (the first call brings the head), and
  // its EOF. on_client_written(): a ToClient's bytes were written (the action says how many).
  void on_client_bytes(ByteSpan bytes);
  void on_client_eof();
  void on_client_written(std::size_t bytes);
  // Origin side: the answer to the last Open, then the stream's bytes, FIN and RESET.
  // `explanation` is the text of the error page for the refusal (what the user can do about it).
  void on_origin_open();
  // The stream asked for takes bytes before its answer (early data, docs/protocol.md 4.4): the
  // request goes now instead of waiting for on_origin_open(). A refusal still gets its error page.
  // Not for a tunnel: CONNECT's 200 waits for the answer.
  void on_origin_takes_early();
  void on_origin_refused(frame::OpenCode code, std::string_view reason, std::string explanation);
  void on_origin_bytes(ByteSpan bytes);
  void on_origin_fin();
  void on_origin_reset();
  // A ToOrigin left the stream's queue above its high watermark; it went below again.
  void on_origin_full();
  void on_origin_writable();
  // The agent drains: an exchange under way finishes and then the connection closes; an idle one
  // closes now; a new request gets 503 (local pages still answer).
  void drain();
  // The connection goes away without a word (the agent stops): the stream is released, nothing more.
  void abort();

  // The next action to perform, in order; none when the exchange waits for input. Performing one may
  // feed the exchange again (an Open refused at once): the queue just grows.
  [[nodiscard]] std::optional<Action> next_action();
  [[nodiscard]] bool has_actions() const noexcept { return !actions_.empty(); }
  // False: stop reading the client until an input changes that.
  [[nodiscard]] bool wants_client_bytes() const noexcept;

  [[nodiscard]] ClientState client_state() const noexcept { return client_; }
  [[nodiscard]] ResponseState response_state() const noexcept { return response_; }
  [[nodiscard]] OriginState origin_state() const noexcept { return origin_state_; }
  // The origin of the current (or last) stream.
  [[nodiscard]] const Target& origin() const noexcept { return origin_; }
  [[nodiscard]] bool closed() const noexcept { return client_ == ClientState::Closed; }
  // Client bytes not consumed yet, and bytes waiting for the stream to open.
  [[nodiscard]] std::size_t inbox_bytes() const noexcept { return inbox_.size() - inbox_start_; }
  [[nodiscard]] std::size_t waiting_origin_bytes() const noexcept { return waiting_.size(); }
  [[nodiscard]] std::size_t unwritten_client_bytes() const noexcept { return unwritten_; }
  // "client=body response=head origin=open", for logs and test messages.
  [[nodiscard]] std::string describe() const;

 private:
  ByteSpan unread() const noexcept { return ByteSpan(inbox_).subspan(inbox_start_); }
  void consume(std::size_t n);
  void pump();
  bool start_request();
  bool start_forward(const RequestTarget& rt);
  void local_page(const RequestTarget& rt);
  void serve_page(const std::string& body, const char* content_type, const char* cache = "no-store");
  void misdirected();
  void forward_request_body();
  void response_bytes(ByteSpan bytes);
  void response_head();
  void forward_response_body(ByteSpan bytes);
  void response_done();
  void become_tunnel_after_upgrade(ByteSpan rest);
  bool keep_alive() const noexcept { return keep_alive_ && !draining_; }

  void open(const Target& target);
  void release();
  void to_origin(ByteSpan bytes);
  void to_client(ByteSpan bytes, std::size_t credit, int status = 0);
  void reply(Bytes bytes, int status);
  void log(std::string text);
  void fail(int status, const std::string& text);
  void close_client();
  Action& emit(ActionKind kind);

  ExchangeRules rules_;
  std::deque<Action> actions_;
  ClientState client_ = ClientState::Head;
  ResponseState response_ = ResponseState::None;
  OriginState origin_state_ = OriginState::None;
  bool draining_ = false;
  bool client_eof_ = false;

  // Client bytes from inbox_start_ on are not consumed yet (consumed ones are dropped lazily, so a
  // burst of pipelined requests is not moved once per request).
  Bytes inbox_;
  std::size_t inbox_start_ = 0;
  // The unread bytes start with a head the decoder said needs more, and nothing has arrived since
  // that could change its answer (http1_head_progress.hpp).
  bool head_undecided_ = false;
  std::size_t unwritten_ = 0;  // ToClient bytes not yet reported written

  // The current exchange.
  RequestHead req_;
  BodyFraming req_body_;
  std::uint64_t req_left_ = 0;
  ChunkedScanner req_chunks_;
  bool keep_alive_ = true;  // the client keeps its connection after this exchange
  bool upgrade_ = false;    // the request asked to upgrade, and the rewrite passed that on

  // The stream: kept across exchanges to the same origin while the last response allowed it.
  Target origin_;
  bool origin_reusable_ = false;
  bool early_ = false;       // Opening, and the stream takes the request's bytes already
  bool early_full_ = false;  // early_, and the stream's queue is above its high watermark
  Bytes waiting_;            // bytes for a stream that is still opening

  // The response.
  Bytes resp_head_;
  BodyFraming resp_body_;
  std::uint64_t resp_left_ = 0;
  ChunkedScanner resp_chunks_;
};

}  // namespace ferry::http1
