// Several instances on one PostgreSQL database (IOTD_CLUSTER, docs/architecture.md §21): the
// relay between them. Each writer NOTIFYs on kCommitChannel, inside its batch transaction,
// the ids of the messages and alerts it committed; the HTTP handlers' rule and device
// changes are NOTIFYed on kChangeChannel. The relay LISTENs on both with its own libpq
// connection and thread: another instance's commit is read back (messages by id, alerts
// through the repository) and handed on as a CommitEvent (to the live hub), in commit order
// (PostgreSQL delivers notifications in commit order); another instance's change calls the
// matching handler. The instance's own notifications are skipped. After a reconnect it
// calls `resync` (what was announced meanwhile is lost: reload what may have changed); on
// every connect, the first included, once LISTEN is in place, it reads the latest values
// and hands them to `latest`: commits made before it listened (while this instance
// started, or while it was away) reach the latest-values cache all the same.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iotd/ingest/writer.hpp"
#include "iotd/storage/repository.hpp"

namespace iotd::cluster {

// kCommitChannel payload (written by the writer, ingest::kClusterCommitChannel):
// {"i": instance id, "m": [message ids], "a": [alert ids]}; kChangeChannel payload:
// {"i": instance id, "k": "rules"} or {"i": …, "k": "device", "d": device id}.
inline constexpr const char* kCommitChannel = "iotd_commits";
inline constexpr const char* kChangeChannel = "iotd_changes";

struct RelayHandlers {
  std::function<void(ingest::CommitEvent&&)> commit;           // another instance's commit
  std::function<void()> rules_changed;                        // the rules table changed
  std::function<void(const std::string& device_id)> device_changed;  // a device or its key
  std::function<void()> resync;                               // after a reconnect
  std::function<void(std::vector<storage::DeviceLatest>&&)> latest;  // after each LISTEN
};

class ClusterRelay {
 public:
  // `conninfo`: a libpq connection string or postgresql:// URI (IOTD_DATABASE_URL).
  ClusterRelay(std::string conninfo, std::string instance_id, storage::Repository& repo, RelayHandlers h);
  ~ClusterRelay();
  ClusterRelay(const ClusterRelay&) = delete;
  ClusterRelay& operator=(const ClusterRelay&) = delete;

  void start();
  void stop();
  // Thread-safe; queued and sent by the relay thread (within ~100 ms, kept until sent).
  void announce_rules();
  void announce_device(const std::string& device_id);
  // True while the LISTEN connection is up (health, tests).
  bool connected() const { return connected_.load(); }

 private:
  struct Conn;
  void run(std::stop_token st);
  void handle(Conn& c, const std::string& channel, const std::string& payload);
  void send_pending(Conn& c);
  void catch_up_latest(Conn& c);  // reads the latest values, calls h_.latest

  std::string conninfo_, instance_id_;
  storage::Repository& repo_;
  RelayHandlers h_;
  std::mutex mu_;
  std::vector<std::string> pending_;  // change payloads to NOTIFY; guarded by mu_
  std::atomic<bool> connected_{false};
  std::jthread thread_;
};

}  // namespace iotd::cluster
