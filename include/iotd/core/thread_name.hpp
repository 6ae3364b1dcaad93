// Names the calling thread (Linux: at most 15 bytes, longer names are cut), so that
// `top -H`, `ps -L`, gdb and `perf report --sort comm` tell iotd's threads apart. Paho
// names its own (MQTTAsync_rcv, MQTTAsync_send).
#pragma once

namespace iotd {

void set_thread_name(const char* name) noexcept;

}  // namespace iotd
