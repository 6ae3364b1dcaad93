#include "lib/response_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iotd::bench {
namespace {

using State = ResponseParser::State;

// Feeds `wire` in pieces of `piece` bytes the way a client would: unconsumed bytes stay
// buffered and are fed again with the next piece. Returns the bytes left after the response.
std::string feed_in_pieces(ResponseParser& p, const std::string& wire, std::size_t piece) {
  std::string pending;
  std::size_t pos = 0;
  while (pos < wire.size() && p.state() == State::need_more) {
    pending.append(wire.substr(pos, piece));
    pos += piece;
    auto step = p.feed(pending);
    pending.erase(0, step.consumed);
  }
  return pending + (pos < wire.size() ? wire.substr(pos) : "");
}

TEST(ResponseParser, ReadsContentLengthBodyFedByteByByte) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 18\r\n\r\n"
                           "{\"status\":\"alive\"}";
  for (std::size_t piece : {1u, 7u, 1000u}) {
    ResponseParser p(true);
    EXPECT_EQ(feed_in_pieces(p, wire, piece), "") << piece;
    ASSERT_EQ(p.state(), State::done) << piece;
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(p.body(), "{\"status\":\"alive\"}");
    EXPECT_EQ(p.body_bytes(), 18u);
    EXPECT_TRUE(p.keep_alive());
  }
}

TEST(ResponseParser, DechunksWithExtensionsAndTrailersFedByteByByte) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n"
      "0B\r\n, chunked w\r\n"
      "4\r\norld\r\n"
      "0\r\nX-Trailer: yes\r\n\r\n";
  for (std::size_t piece : {1u, 3u, 4096u}) {
    ResponseParser p(true);
    EXPECT_EQ(feed_in_pieces(p, wire, piece), "");
    ASSERT_EQ(p.state(), State::done) << piece << ": " << p.error();
    EXPECT_EQ(p.body(), "hello, chunked world");
    EXPECT_EQ(p.body_bytes(), 20u);
  }
}

TEST(ResponseParser, StopsAtTheEndOfTheResponseAndLeavesTheNextOne) {
  const std::string first = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ResponseParser p;
  auto step = p.feed(first + second);
  EXPECT_EQ(step.state, State::done);
  EXPECT_EQ(step.consumed, first.size());
  EXPECT_EQ(p.status(), 404);
  EXPECT_EQ(p.body(), "") << "body only kept on request";
  EXPECT_EQ(p.body_bytes(), 3u);

  p.reset();
  step = p.feed(second);
  EXPECT_EQ(step.state, State::done);
  EXPECT_EQ(step.consumed, second.size());
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.body_bytes(), 0u);
}

TEST(ResponseParser, BodyWithoutLengthRunsUntilClose) {
  ResponseParser p(true);
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\n\r\npart one, ").state, State::need_more);
  EXPECT_EQ(p.feed("part two").state, State::need_more);
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.finish_at_eof(), State::done);
  EXPECT_EQ(p.body(), "part one, part two");
}

TEST(ResponseParser, ConnectionCloseAndHttp10EndKeepAlive) {
  ResponseParser p;
  p.feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.state(), State::done);
  EXPECT_FALSE(p.keep_alive());

  p.reset();
  p.feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(p.keep_alive());

  p.reset();
  p.feed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParser, NoBodyFor204And304AndAfterInterim100) {
  ResponseParser p;
  auto step = p.feed("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(step.state, State::done);
  EXPECT_EQ(p.body_bytes(), 0u);

  p.reset();
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  step = p.feed(wire);
  EXPECT_EQ(step.state, State::done);
  EXPECT_EQ(step.consumed, wire.size());
  EXPECT_EQ(p.status(), 201);
}

TEST(ResponseParser, RejectsMalformedResponses) {
  for (const char* wire : {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY"}) {
    ResponseParser p;
    EXPECT_EQ(p.feed(wire).state, State::error) << wire;
    EXPECT_FALSE(p.error().empty());
    EXPECT_FALSE(p.keep_alive());
  }
}

TEST(ResponseParser, EofBeforeTheEndIsAnError) {
  ResponseParser p;
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(p.finish_at_eof(), State::error);
  EXPECT_EQ(p.error(), "connection closed mid-response");

  ResponseParser q;
  EXPECT_EQ(q.finish_at_eof(), State::error);
  EXPECT_EQ(q.error(), "connection closed before a response");
}

TEST(ResponseParser, OversizedHeadIsAnError) {
  ResponseParser p;
  std::string head = "HTTP/1.1 200 OK\r\nX: " + std::string(ResponseParser::kMaxHeadBytes, 'a');
  EXPECT_EQ(p.feed(head).state, State::error);
}

}  // namespace
}  // namespace iotd::bench
