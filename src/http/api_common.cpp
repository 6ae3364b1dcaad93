#include "api_common.hpp"

#include <algorithm>
#include <utility>

namespace iotd::http::api {

Response render(Flavor f, const ApiError& e) {
  if (f == Flavor::v1) return e.to_response();
  JsonWriter w(64 + e.message.size());
  w.begin_object().key(f == Flavor::seed000 ? "detail" : "error").str(e.message).end_object();
  return json_response(e.status, w.take());
}

ApiError db_error() {
  return ApiError{503, "database_unavailable",
                  "the database query failed; try again later (details are in the server log)"};
}

ApiError not_found(std::string message) { return ApiError{404, "not_found", std::move(message)}; }

Response ok_json(JsonWriter& w) { return json_response(200, w.take()); }

storage::Cursor cursor_of(const storage::StoredReading& r) {
  return storage::Cursor{r.ts_ms, r.id};
}

std::vector<storage::StoredReading> fetch_rows(storage::Repository& repo,
                                               storage::ReadingQuery base, std::int64_t limit,
                                               bool newest_when_open, bool* truncated) {
  std::vector<storage::StoredReading> rows;
  const bool newest = newest_when_open && !base.from_ms;
  base.oldest_first = !newest;
  base.offset = 0;
  while (static_cast<std::int64_t>(rows.size()) < limit) {
    base.limit = static_cast<int>(std::min<std::int64_t>(kPage, limit - rows.size()));
    auto page = repo.readings(base);
    const std::size_t got = page.rows.size();
    for (auto& r : page.rows) rows.push_back(std::move(r));
    if (got < static_cast<std::size_t>(base.limit) || got == 0) break;
    if (newest)
      base.before = cursor_of(rows.back());
    else
      base.after = cursor_of(rows.back());
  }
  if (truncated) {
    *truncated = false;
    if (static_cast<std::int64_t>(rows.size()) == limit && !rows.empty()) {
      base.limit = 1;
      if (newest)
        base.before = cursor_of(rows.back());
      else
        base.after = cursor_of(rows.back());
      *truncated = !repo.readings(base).rows.empty();
    }
  }
  if (newest) std::reverse(rows.begin(), rows.end());
  return rows;
}

}  // namespace iotd::http::api
