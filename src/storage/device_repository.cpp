// The device registry's SQL (docs/architecture.md §10, `devices`): list, read, create,
// update, key, heartbeat, delete. A delete without purge keeps the row as status "deleted"
// (the readings, rollups, latest values and alerts stay, reachable by the device id) and
// drops its key; with purge the device's rows go from every table in one transaction.
#include <soci/soci.h>

#include <algorithm>
#include <utility>

#include "device_sql.hpp"
#include "sql_common.hpp"

namespace iotd::storage::detail {
namespace {

constexpr std::string_view kSelectDevice =
    "SELECT device_id, name, type, location, status, metadata, "
    "CASE WHEN api_key_hash IS NULL THEN 0 ELSE 1 END, created_at, updated_at, last_seen_at "
    "FROM devices WHERE status <> 'deleted'";

std::vector<Device> fetch_devices(soci::session& s, SqlBuilder& q) {
  std::string device_id, name, type, location, status, metadata;
  long long has_key = 0, created_at = 0, updated_at = 0, last_seen = 0;
  soci::indicator name_ind, type_ind, location_ind, metadata_ind, seen_ind;
  soci::statement st(s);
  st.exchange(soci::into(device_id));
  st.exchange(soci::into(name, name_ind));
  st.exchange(soci::into(type, type_ind));
  st.exchange(soci::into(location, location_ind));
  st.exchange(soci::into(status));
  st.exchange(soci::into(metadata, metadata_ind));
  st.exchange(soci::into(has_key));
  st.exchange(soci::into(created_at));
  st.exchange(soci::into(updated_at));
  st.exchange(soci::into(last_seen, seen_ind));
  q.bind(st);
  st.alloc();
  st.prepare(q.text());
  st.define_and_bind();
  st.execute(false);
  std::vector<Device> out;
  while (st.fetch()) {
    Device d;
    d.device_id = device_id;
    if (name_ind == soci::i_ok) d.name = name;
    if (type_ind == soci::i_ok) d.type = type;
    if (location_ind == soci::i_ok) d.location = location;
    d.status = status;
    if (metadata_ind == soci::i_ok) d.metadata_json = metadata;
    d.has_key = has_key != 0;
    d.created_at_ms = created_at;
    d.updated_at_ms = updated_at;
    if (seen_ind == soci::i_ok) d.last_seen_at_ms = last_seen;
    out.push_back(std::move(d));
  }
  return out;
}

// The bindable form of a device's optional columns.
struct Columns {
  std::string name, type, location, status, metadata;
  soci::indicator name_ind, type_ind, location_ind, metadata_ind;
  explicit Columns(const Device& d)
      : name(d.name.value_or("")), type(d.type.value_or("")), location(d.location.value_or("")),
        status(d.status), metadata(d.metadata_json),
        name_ind(d.name ? soci::i_ok : soci::i_null),
        type_ind(d.type ? soci::i_ok : soci::i_null),
        location_ind(d.location ? soci::i_ok : soci::i_null),
        metadata_ind(d.metadata_json.empty() ? soci::i_null : soci::i_ok) {}
};

long long affected(soci::statement& st) {
  st.execute(true);
  return st.get_affected_rows();
}

}  // namespace

std::vector<Device> select_devices(soci::session& s, const DeviceQuery& q) {
  SqlBuilder sql(kSelectDevice);
  if (q.status) sql.add(" AND status = :status", *q.status);
  if (q.type) sql.add(" AND type = :type", *q.type);
  if (q.location) sql.add(" AND location = :location", *q.location);
  sql.add(" ORDER BY device_id");
  sql.add(" LIMIT :limit", static_cast<long long>(std::max(0, q.limit)));
  sql.add(" OFFSET :offset", static_cast<long long>(std::max(0, q.offset)));
  return fetch_devices(s, sql);
}

std::optional<Device> select_device(soci::session& s, const std::string& device_id) {
  SqlBuilder sql(kSelectDevice);
  sql.add(" AND device_id = :device_id", device_id);
  auto rows = fetch_devices(s, sql);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

// No transaction around the read and the write: a SQLite read transaction upgraded to a write
// fails at once when the writer committed in between. A device the writer auto-registers in
// that gap makes the INSERT fail on the unique key (the caller answers 503, a retry 409).
bool create_device(soci::session& s, const Device& d, const std::string& key_hash) {
  std::string id = d.device_id, hash = key_hash, status;
  soci::indicator status_ind;
  s << "SELECT status FROM devices WHERE device_id = :device_id", soci::into(status, status_ind),
      soci::use(id);
  const bool exists = s.got_data();
  if (exists && status != "deleted") return false;
  Columns c(d);
  long long created = d.created_at_ms, updated = d.updated_at_ms;
  if (exists) {
    s << "UPDATE devices SET name = :name, type = :type, location = :location, "
         "status = :status, metadata = :metadata, api_key_hash = :hash, created_at = :created, "
         "updated_at = :updated WHERE device_id = :device_id",
        soci::use(c.name, c.name_ind), soci::use(c.type, c.type_ind),
        soci::use(c.location, c.location_ind), soci::use(c.status),
        soci::use(c.metadata, c.metadata_ind), soci::use(hash), soci::use(created),
        soci::use(updated), soci::use(id);
  } else {
    s << "INSERT INTO devices(device_id, name, type, location, status, metadata, api_key_hash, "
         "created_at, updated_at) VALUES(:device_id, :name, :type, :location, :status, "
         ":metadata, :hash, :created, :updated)",
        soci::use(id), soci::use(c.name, c.name_ind), soci::use(c.type, c.type_ind),
        soci::use(c.location, c.location_ind), soci::use(c.status),
        soci::use(c.metadata, c.metadata_ind), soci::use(hash), soci::use(created),
        soci::use(updated);
  }
  return true;
}

bool update_device(soci::session& s, const Device& d) {
  Columns c(d);
  std::string id = d.device_id;
  long long updated = d.updated_at_ms;
  soci::statement st =
      (s.prepare << "UPDATE devices SET name = :name, type = :type, location = :location, "
                    "status = :status, metadata = :metadata, updated_at = :updated "
                    "WHERE device_id = :device_id AND status <> 'deleted'",
       soci::use(c.name, c.name_ind), soci::use(c.type, c.type_ind),
       soci::use(c.location, c.location_ind), soci::use(c.status),
       soci::use(c.metadata, c.metadata_ind), soci::use(updated), soci::use(id));
  return affected(st) > 0;
}

bool set_device_key(soci::session& s, const std::string& device_id, const std::string& key_hash,
                    std::int64_t now_ms) {
  std::string id = device_id, hash = key_hash;
  long long now = now_ms;
  soci::statement st = (s.prepare << "UPDATE devices SET api_key_hash = :hash, updated_at = :now "
                                     "WHERE device_id = :device_id AND status <> 'deleted'",
                        soci::use(hash), soci::use(now), soci::use(id));
  return affected(st) > 0;
}

// last_seen_at only moves forward, as the writer keeps it.
bool device_heartbeat(soci::session& s, const std::string& device_id, std::int64_t now_ms) {
  std::string id = device_id;
  long long now = now_ms, now2 = now_ms;
  soci::statement st = (s.prepare << "UPDATE devices SET last_seen_at = :now WHERE device_id = "
                                     ":device_id AND status <> 'deleted' AND (last_seen_at IS "
                                     "NULL OR last_seen_at < :now2)",
                        soci::use(now), soci::use(id), soci::use(now2));
  if (affected(st) > 0) return true;
  return select_device(s, device_id).has_value();
}

bool delete_device(soci::session& s, const std::string& device_id, bool purge, std::int64_t now_ms) {
  std::string id = device_id;
  if (!purge) {
    long long now = now_ms;
    soci::statement st = (s.prepare << "UPDATE devices SET status = 'deleted', api_key_hash = NULL, "
                                       "updated_at = :now WHERE device_id = :device_id "
                                       "AND status <> 'deleted'",
                          soci::use(now), soci::use(id));
    return affected(st) > 0;
  }
  // A row left by an earlier delete without purge can still be purged.
  auto pk = find_device_pk(s, device_id);  // before the transaction, which starts writing
  if (!pk) return false;
  long long device_pk = *pk;
  soci::transaction tx(s);
  for (const char* table : {"messages", "rollup_1m", "latest_values", "alerts"})
    s << std::string("DELETE FROM ") + table + " WHERE device_pk = :device_pk", soci::use(device_pk);
  s << "DELETE FROM commands WHERE device_id = :device_id", soci::use(id);  // keyed by id (0002)
  s << "DELETE FROM devices WHERE pk = :device_pk", soci::use(device_pk);
  tx.commit();
  return true;
}

std::vector<DeviceKeyHash> select_device_keys(soci::session& s) {
  std::string id, hash;
  soci::statement st = (s.prepare << "SELECT device_id, api_key_hash FROM devices WHERE "
                                     "api_key_hash IS NOT NULL AND status <> 'deleted'",
                        soci::into(id), soci::into(hash));
  st.execute(false);
  std::vector<DeviceKeyHash> out;
  while (st.fetch()) out.push_back({id, hash});
  return out;
}

std::map<std::string, std::int64_t> count_devices_by_status(soci::session& s) {
  std::string status;
  long long n = 0;
  soci::statement st = (s.prepare << "SELECT status, COUNT(*) FROM devices WHERE status <> "
                                     "'deleted' GROUP BY status",
                        soci::into(status), soci::into(n));
  st.execute(false);
  std::map<std::string, std::int64_t> out;
  while (st.fetch()) out[status] = n;
  return out;
}

}  // namespace iotd::storage::detail
