// SQL migrations compiled into the binary from migrations/<dialect>/NNNN_name.sql.
#pragma once

#include <string_view>
#include <vector>

namespace iotd::storage {

struct EmbeddedMigration {
  std::string_view dialect;  // sqlite | postgresql | mysql
  std::string_view name;     // "0001_init"
  std::string_view sql;      // statements separated by lines "-- statement"
};

// In dialect, then name order.
const std::vector<EmbeddedMigration>& embedded_migrations();

}  // namespace iotd::storage
