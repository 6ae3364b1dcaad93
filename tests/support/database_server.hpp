// A throwaway database server for integration tests that run iotd on PostgreSQL or MariaDB,
// chosen by backend name, started per test. See services.hpp for the servers themselves.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/services.hpp"

namespace iotd::test {

// "postgresql" and "mysql", each when its server is installed (a NOTE on stderr otherwise;
// under CI a missing server stays in the list, so that its tests fail).
std::vector<std::string> server_backends();

class DatabaseServer {
 public:
  // backend: "postgresql" or "mysql". Ready when the constructor returns.
  explicit DatabaseServer(const std::string& backend);
  ~DatabaseServer();
  DatabaseServer(const DatabaseServer&) = delete;
  DatabaseServer& operator=(const DatabaseServer&) = delete;

  const std::string& backend() const { return backend_; }
  std::string url() const;  // an IOTD_DATABASE_URL
  std::string read_log() const;
  // An outage: stop() shuts the server down; start() brings it back on the same port.
  void stop();
  void start();

 private:
  std::string backend_;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<MariaDbServer> my_;
};

}  // namespace iotd::test
