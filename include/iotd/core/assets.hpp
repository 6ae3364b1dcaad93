// Files compiled into the binary (cmake/EmbedAssets.cmake generates each table): the
// OpenAPI document and the /docs page with its script today, the dashboard later. Every
// table is a function returning its assets; the bytes live in read-only data.
#pragma once

#include <span>
#include <string_view>

namespace iotd::assets {

struct Asset {
  std::string_view path;          // the URL path it is served at, e.g. "/openapi.json"
  std::string_view content_type;  // from the file's extension
  std::string_view bytes;
};

// The asset served at `path`, or null.
inline const Asset* find(std::span<const Asset> table, std::string_view path) {
  for (const auto& a : table)
    if (a.path == path) return &a;
  return nullptr;
}

// GET /openapi.json, /docs and the Redoc script (CMakeLists.txt, "Embedded assets").
std::span<const Asset> operations();

// GET / and /dashboard/{file}: the dashboard (issue 10) with uPlot (CMakeLists.txt, "Dashboard").
std::span<const Asset> dashboard();

}  // namespace iotd::assets
