// What the REST handlers share: the handler signature, error rendering in the v1 and seed
// shapes, and paging through reading ranges. Pure functions plus repository calls; the
// callers run them on the blocking pool unless they read only memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "iotd/http/api.hpp"
#include "iotd/http/router.hpp"
#include "iotd/storage/repository.hpp"
#include "json_writer.hpp"
#include "params.hpp"

namespace iotd::http::api {

// A route's handler: validates the request and answers it in one call.
using Fn = Response (*)(const ApiContext&, const Request&, const PathParams&);

// Rows per repository call when exports and compat routes page through a range: keeps
// each read transaction short.
inline constexpr int kPage = 5000;
// Caps for the compatibility routes that return a whole range in one body.
inline constexpr std::int64_t kCompatMaxRows = 10'000;

// Error shapes: v1 {"error":{"code","message"}}; seed 000 (FastAPI) {"detail": msg};
// seeds 002 and 003 (Flask) {"error": msg}.
enum class Flavor { v1, seed000, seed002, seed003 };

Response render(Flavor f, const ApiError& e);
// 503 for a failed query; the details go to the log, not to the client.
ApiError db_error();
ApiError not_found(std::string message);
Response ok_json(JsonWriter& w);

storage::Cursor cursor_of(const storage::StoredReading& r);

// Up to `limit` rows in time order. With `from`: the first rows from `from` on; without:
// the most recent rows when `newest_when_open`. Sets *truncated when more rows match.
std::vector<storage::StoredReading> fetch_rows(storage::Repository& repo,
                                               storage::ReadingQuery base, std::int64_t limit,
                                               bool newest_when_open, bool* truncated);

}  // namespace iotd::http::api
