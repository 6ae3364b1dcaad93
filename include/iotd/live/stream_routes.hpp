// The live stream's WebSocket routes (docs/architecture.md §15): GET /api/v1/stream and
// seed 001's /api/v1/realtime/subscribe/{device_id}, both open like the REST reads. The
// filter is checked before the upgrade (400 with the JSON error body); each accepted
// client is a hub subscriber with a bounded send queue, ping/pong keepalive and a 1008
// close when it falls behind.
#pragma once

#include <chrono>
#include <cstddef>

#include "iotd/core/counters.hpp"
#include "iotd/http/router.hpp"
#include "iotd/live/hub.hpp"

namespace iotd::live {

struct StreamOptions {
  // Frames waiting for one client: a commit that would take a client holding frames past
  // this closes it with 1008 (a client with none queued takes any commit whole).
  std::size_t queue_frames = 1024;
  // A ping goes out after half of this without traffic; a client silent for all of it
  // (no pong) is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // After a 1008 decision, how long the pending write and the close frame may take before
  // the socket is closed outright.
  std::chrono::milliseconds close_grace{10'000};
};

// `hub` and `counters` must outlive the router's server.
void register_stream_routes(http::Router& router, LiveHub& hub, Counters& counters,
                            StreamOptions opts);

}  // namespace iotd::live
