#include "sqlite_library.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace iotd::storage::detail {

const SqliteLibraryConfig& configure_sqlite_library() noexcept {
  static const SqliteLibraryConfig config = [] {
    SqliteLibraryConfig c;
    void* lib = ::dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);  // kept loaded: SOCI uses it
    if (!lib) {
      spdlog::debug("sqlite: {}: library defaults kept", ::dlerror());
      return c;
    }
    using Config = int (*)(int, ...);
    auto config_fn = reinterpret_cast<Config>(::dlsym(lib, "sqlite3_config"));
    if (!config_fn) return c;
    c.multithread = config_fn(SQLITE_CONFIG_MULTITHREAD) == SQLITE_OK;
    c.memstatus_off = config_fn(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
    if (!c.multithread || !c.memstatus_off)
      spdlog::debug("sqlite: library already initialised: multi-thread mode {}, memory statistics off {}",
                    c.multithread, c.memstatus_off);
    return c;
  }();
  return config;
}

}  // namespace iotd::storage::detail
