// "http://host[:port]/path?query" split into what a plain HTTP/1.1 client needs.
// Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::bench {

struct Url {
  std::string host;         // name or IPv4 literal; "[::1]" brackets removed
  std::uint16_t port = 80;  // 80 unless given
  std::string target = "/"; // path and query, always starting with '/'

  // "host:port" as sent in the Host header ("[::1]:8080" for IPv6 literals).
  std::string authority() const;
};

// Only the http scheme; no user info, no fragment. nullopt when malformed.
std::optional<Url> parse_url(std::string_view text);

}  // namespace iotd::bench
