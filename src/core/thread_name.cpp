#include "iotd/core/thread_name.hpp"

#include <pthread.h>

#include <cstring>

namespace iotd {

void set_thread_name(const char* name) noexcept {
  char cut[16];
  std::strncpy(cut, name, sizeof cut - 1);
  cut[sizeof cut - 1] = '\0';
  pthread_setname_np(pthread_self(), cut);  // refuses only names over 15 bytes, cut above
}

}  // namespace iotd
