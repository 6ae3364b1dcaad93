// Throwaway certificates for TLS tests (docs/architecture.md §19), made with the openssl CLI
// in a TempDir: a CA, a server certificate for localhost and 127.0.0.1, an expired one with
// the same key, a client certificate, and a second CA that signed none of them.
// Not thread-safe; make one per suite.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace iotd::test {

class TestPki {
 public:
  TestPki();  // throws std::runtime_error with openssl's output when a step fails

  std::filesystem::path ca_cert() const { return dir_ / "ca.pem"; }
  std::filesystem::path other_ca_cert() const { return dir_ / "other-ca.pem"; }
  std::filesystem::path server_cert() const { return dir_ / "server.pem"; }
  std::filesystem::path server_key() const { return dir_ / "server.key"; }
  std::filesystem::path expired_server_cert() const { return dir_ / "server-expired.pem"; }
  std::filesystem::path client_cert() const { return dir_ / "client.pem"; }
  std::filesystem::path client_key() const { return dir_ / "client.key"; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  void openssl(const std::vector<std::string>& args) const;
  TempDir dir_;
};

}  // namespace iotd::test
