// Incremental HTTP/1.1 response parser for the bench clients: status, Content-Length,
// chunked and read-until-close bodies, keep-alive. Feed it bytes as they arrive; it
// consumes only whole units (the head, chunk-size lines), so the caller keeps the rest
// and feeds it again with more. One response at a time; reset() before the next.
// Not thread-safe; no allocation per response unless the body is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iotd::bench {

class ResponseParser {
 public:
  enum class State { need_more, done, error };
  struct Step {
    State state;
    std::size_t consumed;  // bytes of the input that belong to this response
  };

  // keep_body: store the de-chunked body (for clients that read it); otherwise only count.
  explicit ResponseParser(bool keep_body = false) : keep_body_(keep_body) {}

  // Consumes from `data` up to the end of the response (never beyond). Once done or
  // error, further calls consume nothing.
  Step feed(std::string_view data);
  // The peer closed the connection: completes a read-until-close body; any other
  // unfinished response becomes an error. Returns the final state.
  State finish_at_eof();
  // For a request that must not get a body (HEAD): call before feeding.
  void expect_no_body() { no_body_ = true; }
  void reset();

  State state() const { return state_; }
  int status() const { return status_; }
  std::size_t body_bytes() const { return body_bytes_; }
  std::size_t head_bytes() const { return head_bytes_; }
  // False when the server said Connection: close, answered HTTP/1.0 without keep-alive,
  // or delimited the body by closing.
  bool keep_alive() const { return keep_alive_; }
  const std::string& body() const { return body_; }
  const std::string& error() const { return error_; }

  static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

 private:
  enum class Phase { head, fixed_body, chunk_size, chunk_data, chunk_crlf, trailers, until_close, finished };

  bool parse_head(std::string_view head);
  Step fail(std::string message, std::size_t consumed);
  void take_body(std::string_view bytes);

  bool keep_body_;
  bool no_body_ = false;
  Phase phase_ = Phase::head;
  State state_ = State::need_more;
  int status_ = 0;
  bool keep_alive_ = true;
  std::uint64_t remaining_ = 0;  // of the fixed body or the current chunk
  std::size_t body_bytes_ = 0;
  std::size_t head_bytes_ = 0;
  std::string body_;
  std::string error_;
};

}  // namespace iotd::bench
