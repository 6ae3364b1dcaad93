// Write side of the store: owned and used only by the writer thread (one SOCI session).
// A batch is: begin(); insert_messages(); alert and reject writes; save_checkpoint();
// commit(). Rollups and latest values of the inserted messages are upserted by commit(),
// inside the same transaction. On any exception the caller calls rollback(), which also
// forgets devices and metric names created in the failed transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/core/reading.hpp"
#include "iotd/storage/commands.hpp"
#include "iotd/storage/retention.hpp"
#include "iotd/storage/types.hpp"

namespace iotd::storage {

struct Checkpoint {
  std::string journal_uuid;
  std::uint64_t seq = 0;
};

class WriteStore {
 public:
  virtual ~WriteStore() = default;

  // --- start-up reads (outside a batch) ---
  virtual std::optional<Checkpoint> load_checkpoint(const std::string& instance_id) = 0;
  virtual std::vector<Alert> active_alerts() = 0;   // state = active, oldest first
  virtual std::vector<Rule> rules() = 0;
  virtual std::vector<DeviceLatest> load_latest() = 0;

  // --- devices (cached; include devices created in the open transaction) ---
  virtual bool device_known(const std::string& device_id) = 0;
  virtual std::int64_t device_count() = 0;
  // Devices registry (issue 9). Defaults for stores without one: no type, nothing cached.
  // The device's type ("" when none) for the rule engine; valid until the next call that may
  // reload the cache (forget_device, device_known, begin after a reconnect).
  virtual std::string_view device_type(const std::string& device_id) {
    (void)device_id;
    return {};
  }
  // Drops what is cached about the device (the devices API changed or deleted it); the next
  // lookup reads the database. Outside a transaction.
  virtual void forget_device(const std::string& device_id) { (void)device_id; }

  // --- batch ---
  virtual void begin() = 0;
  // One row per reading, devices auto-created. result[i] is the new message id, or
  // nullopt when content dedup (device, ts, dedup_key) found it already stored.
  virtual std::vector<std::optional<std::int64_t>> insert_messages(std::span<const Reading> rs) = 0;
  virtual std::int64_t insert_alert(const Alert& a) = 0;  // returns the new id
  // By a.id: state, severity, message, thresholds, last/peak value, count, updated/cleared
  // times. The acknowledgement fields are left alone (users set them through the repository).
  virtual void update_alert(const Alert& a) = 0;
  virtual void insert_rejects(std::span<const RejectRecord> rs) = 0;
  virtual void save_checkpoint(const std::string& instance_id, const Checkpoint& cp) = 0;
  // Commands (issue 9): devices' acks, in the open transaction: pending | sent ->
  // acknowledged | failed when the command is the ack's device's; one result per ack.
  virtual std::vector<AckMatch> apply_command_acks(std::span<const CommandAckUpdate> acks) = 0;
  // Several instances (IOTD_CLUSTER, docs/architecture.md §21), in the open transaction,
  // after insert_messages (the devices exist): locks these devices' rows until the commit
  // (SELECT ... FOR UPDATE in primary-key order, so two writers never deadlock on them) and
  // returns their active alerts as committed by any instance. nullopt: the store keeps no
  // shared state (the default; SQLite is single-instance).
  virtual std::optional<std::vector<Alert>> lock_alarm_state(std::span<const std::string> device_ids) {
    (void)device_ids;
    return std::nullopt;
  }
  // Several instances: a notification to the other instances, sent when the open
  // transaction commits (PostgreSQL NOTIFY); the default and other databases: nothing.
  virtual void notify(const std::string& channel, const std::string& payload) {
    (void)channel;
    (void)payload;
  }
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  // True when the last failure looked transient (connection lost, busy/locked, timeout):
  // the writer backs off and retries the same batch instead of bisecting it.
  virtual bool last_error_transient() const = 0;

  // --- retention (docs/architecture.md §17), outside a batch ---
  // Deletes at most `max_rows` rows of `table` older than `cutoff_ms` (epoch ms) in one
  // transaction of its own, oldest first. The default (stores without retention) deletes
  // nothing.
  virtual PurgeStep delete_expired(RetentionTable table, std::int64_t cutoff_ms, std::size_t max_rows) {
    (void)table;
    (void)cutoff_ms;
    (void)max_rows;
    return {};
  }
};

}  // namespace iotd::storage
