#include "libpq.hpp"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace iotd::storage {

namespace {

LibPq load() {
  // The soname libpq-dev links against (Debian 12: libpq5).
  void* lib = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    throw std::runtime_error(std::string("cannot load libpq.so.5 (Debian package libpq5): ") +
                             (why ? why : "unknown error"));
  }
  LibPq pq;
#define IOTD_LIBPQ_RESOLVE(name)                                                             \
  pq.name = reinterpret_cast<decltype(pq.name)>(::dlsym(lib, #name));                        \
  if (!pq.name) throw std::runtime_error("libpq.so.5 has no " #name);
  IOTD_LIBPQ_FUNCTIONS(IOTD_LIBPQ_RESOLVE)
#undef IOTD_LIBPQ_RESOLVE
  return pq;  // the library stays loaded for the life of the process
}

}  // namespace

const LibPq& libpq() {
  static const LibPq pq = load();
  return pq;
}

}  // namespace iotd::storage
