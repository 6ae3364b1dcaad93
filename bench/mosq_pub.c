/* iotd-bench-mosq-pub: the ingest benchmark's publisher, plain C on libmosquitto, so that
 * neither side of the reference pair is one of iotd's own tools (BENCHMARKS.md, "Ingest").
 * Publishes N devices' payloads in iotd-sim's flat style
 *   {"device_id":"sim-00042","seq":7,"timestamp":"2026-12-07T03:00:00.123Z",
 *    "temperature":21.50,"humidity":45.0,"pressure":1013.2,"battery":88.0,"rssi":-61}
 * to sensors/<id>/data over C connections (device d on connection d % C), QoS 0 or 1, as fast
 * as possible (QoS 1: at most --window unacknowledged per connection) or at a fixed --rate.
 * One thread drives every connection with poll(2) and libmosquitto's non-threaded loop calls.
 * Prints one JSON object: published, acked, first_publish_us, last_publish_us, last_ack_us,
 * rate (published / first publish -> last PUBACK at QoS 1, -> last write at QoS 0). */
#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char* kUsage =
    "usage: iotd-bench-mosq-pub [options]\n"
    "  --host H          broker (default 127.0.0.1)\n"
    "  --port P          (default 1883)\n"
    "  --qos Q           0 or 1 (default 1)\n"
    "  --devices N       (default 100)\n"
    "  --messages N      stop after N messages (default 100000)\n"
    "  --duration S      or stop after S seconds (with --rate)\n"
    "  --rate R          messages per second in total, 0 = as fast as possible (default 0)\n"
    "  --connections C   (default 1)\n"
    "  --window W        QoS 1: unacknowledged messages per connection (default 100)\n"
    "  --client-id P     client id prefix, -<n> appended (default mosq-pub-<pid>)\n"
    "Exit status: 0 done, 1 broker/connection errors, 2 usage errors.\n";

typedef struct {
  struct mosquitto* m;
  int connected;
  int inflight;
} Conn;

typedef struct {
  char id[16];
  char topic[48];
  long seq;
  double temperature, humidity, pressure, battery;
  int rssi;
  unsigned long long rng;
} Device;

static long long wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long g_acked = 0;
static long long g_last_ack_us = 0;

static void on_connect(struct mosquitto* m, void* obj, int rc) {
  (void)m;
  if (rc == 0) ((Conn*)obj)->connected = 1;
  else ((Conn*)obj)->connected = -1;
}

static void on_publish(struct mosquitto* m, void* obj, int mid) {
  (void)m;
  (void)mid;
  Conn* c = (Conn*)obj;
  if (c->inflight > 0) --c->inflight;
  ++g_acked;
  g_last_ack_us = wall_us();
}

/* xorshift64*: a small random walk so the payloads are not all alike. */
static double uniform(Device* d) {
  d->rng ^= d->rng >> 12;
  d->rng ^= d->rng << 25;
  d->rng ^= d->rng >> 27;
  return (double)((d->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static int payload(Device* d, char* out, size_t cap) {
  long long ms = wall_us() / 1000;
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  d->temperature += uniform(d) * 0.1;
  d->humidity += uniform(d) * 0.2;
  d->pressure += uniform(d) * 0.1;
  return snprintf(out, cap,
                  "{\"device_id\":\"%s\",\"seq\":%ld,\"timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\","
                  "\"temperature\":%.2f,\"humidity\":%.1f,\"pressure\":%.1f,\"battery\":%.1f,\"rssi\":%d}",
                  d->id, d->seq++, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, (int)(ms % 1000), d->temperature, d->humidity, d->pressure, d->battery,
                  d->rssi);
}

/* One poll round over every connection: reads (PUBACKs), writes what is queued, keepalives. */
static int service(Conn* conns, int n, struct pollfd* fds, int timeout_ms) {
  for (int i = 0; i < n; ++i) {
    fds[i].fd = mosquitto_socket(conns[i].m);
    fds[i].events = POLLIN | (mosquitto_want_write(conns[i].m) ? POLLOUT : 0);
    fds[i].revents = 0;
  }
  if (poll(fds, (nfds_t)n, timeout_ms) < 0 && errno != EINTR) return -1;
  for (int i = 0; i < n; ++i) {
    int rc = MOSQ_ERR_SUCCESS;
    if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) rc = mosquitto_loop_read(conns[i].m, 64);
    if (rc == MOSQ_ERR_SUCCESS && (fds[i].revents & POLLOUT)) rc = mosquitto_loop_write(conns[i].m, 64);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_misc(conns[i].m);
    if (rc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "mosq-pub: connection %d: %s\n", i, mosquitto_strerror(rc));
      return -1;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  int port = 1883, qos = 1, ndev = 100, nconn = 1, window = 100;
  long long messages = 100000;
  double rate = 0, duration = 0;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "mosq-pub-%ld", (long)getpid());
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      fputs(kUsage, stdout);
      return 0;
    }
    if (!v) {
      fprintf(stderr, "mosq-pub: %s needs a value\n%s", a, kUsage);
      return 2;
    }
    ++i;
    if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) port = atoi(v);
    else if (strcmp(a, "--qos") == 0) qos = atoi(v);
    else if (strcmp(a, "--devices") == 0) ndev = atoi(v);
    else if (strcmp(a, "--messages") == 0) messages = atoll(v);
    else if (strcmp(a, "--duration") == 0) duration = atof(v);
    else if (strcmp(a, "--rate") == 0) rate = atof(v);
    else if (strcmp(a, "--connections") == 0) nconn = atoi(v);
    else if (strcmp(a, "--window") == 0) window = atoi(v);
    else if (strcmp(a, "--client-id") == 0) snprintf(prefix, sizeof prefix, "%s", v);
    else {
      fprintf(stderr, "mosq-pub: unknown option %s\n%s", a, kUsage);
      return 2;
    }
  }
  if ((qos != 0 && qos != 1) || ndev < 1 || nconn < 1 || window < 1 || messages < 1 || rate < 0 ||
      (duration > 0 && rate <= 0)) {
    fprintf(stderr, "mosq-pub: bad options\n%s", kUsage);
    return 2;
  }
  if (duration > 0) messages = (long long)(rate * duration);

  mosquitto_lib_init();
  Device* devs = calloc((size_t)ndev, sizeof *devs);
  Conn* conns = calloc((size_t)nconn, sizeof *conns);
  struct pollfd* fds = calloc((size_t)nconn, sizeof *fds);
  for (int d = 0; d < ndev; ++d) {
    Device* dv = &devs[d];
    snprintf(dv->id, sizeof dv->id, "sim-%05d", d);
    snprintf(dv->topic, sizeof dv->topic, "sensors/%s/data", dv->id);
    dv->rng = 0x9e3779b97f4a7c15ULL * (unsigned long long)(d + 1) | 1;
    dv->temperature = 20 + uniform(dv) * 5;
    dv->humidity = 50 + uniform(dv) * 15;
    dv->pressure = 1010 + uniform(dv) * 15;
    dv->battery = 70 + uniform(dv) * 30;
    dv->rssi = -65 + (int)(uniform(dv) * 15);
  }
  for (int i = 0; i < nconn; ++i) {
    char id[96];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    conns[i].m = mosquitto_new(id, true, &conns[i]);
    mosquitto_connect_callback_set(conns[i].m, on_connect);
    mosquitto_publish_callback_set(conns[i].m, on_publish);
    /* libmosquitto queues above its own inflight limit: keep it at our window. */
    mosquitto_int_option(conns[i].m, MOSQ_OPT_SEND_MAXIMUM, window);
    int rc = mosquitto_connect(conns[i].m, host, port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "mosq-pub: connect %s:%d: %s\n", host, port, mosquitto_strerror(rc));
      return 1;
    }
  }
  double t0 = mono_s();
  for (;;) {
    int ready = 0;
    for (int i = 0; i < nconn; ++i) {
      if (conns[i].connected < 0) {
        fprintf(stderr, "mosq-pub: CONNACK refused\n");
        return 1;
      }
      ready += conns[i].connected;
    }
    if (ready == nconn) break;
    if (mono_s() - t0 > 20 || service(conns, nconn, fds, 50) != 0) {
      fprintf(stderr, "mosq-pub: not connected after 20 s\n");
      return 1;
    }
  }

  char buf[512];
  long long published = 0, first_us = 0, last_pub_us = 0;
  const double start = mono_s();
  int d = 0;
  while (published < messages) {
    long long due = messages;
    if (rate > 0) {
      due = (long long)((mono_s() - start) * rate) + 1;
      if (due > messages) due = messages;
    }
    int progressed = 0;
    while (published < due) {
      Conn* c = &conns[d % nconn];
      if (qos == 1 && c->inflight >= window) break;
      int len = payload(&devs[d], buf, sizeof buf);
      int rc = mosquitto_publish(c->m, NULL, devs[d].topic, len, buf, qos, false);
      if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mosq-pub: publish: %s\n", mosquitto_strerror(rc));
        return 1;
      }
      last_pub_us = wall_us();
      if (!first_us) first_us = last_pub_us;
      if (qos == 1) ++c->inflight;
      ++published;
      progressed = 1;
      d = (d + 1) % ndev;
      /* Let PUBACKs in now and then, so one connection's window never stalls the rest. */
      if (rate <= 0 && published % 256 == 0) break;
    }
    int timeout = 0;
    if (!progressed) timeout = rate > 0 ? 1 : 100;
    if (service(conns, nconn, fds, timeout) != 0) return 1;
  }
  /* Drain: every PUBACK at QoS 1, every queued byte at QoS 0. */
  const double drain_start = mono_s();
  for (;;) {
    int pending = 0;
    for (int i = 0; i < nconn; ++i) pending |= mosquitto_want_write(conns[i].m);
    if (!pending && (qos == 0 || g_acked >= published)) break;
    if (mono_s() - drain_start > 120) {
      fprintf(stderr, "mosq-pub: %lld of %lld PUBACKs after 120 s\n", g_acked, published);
      return 1;
    }
    if (service(conns, nconn, fds, 50) != 0) return 1;
  }
  if (qos == 0) last_pub_us = wall_us();
  for (int i = 0; i < nconn; ++i) {
    mosquitto_disconnect(conns[i].m);
    mosquitto_loop_write(conns[i].m, 1);
    mosquitto_destroy(conns[i].m);
  }
  mosquitto_lib_cleanup();
  const long long end_us = qos == 1 ? g_last_ack_us : last_pub_us;
  const double secs = (double)(end_us - first_us) / 1e6;
  printf("{\"published\":%lld,\"acked\":%lld,\"first_publish_us\":%lld,\"last_publish_us\":%lld,"
         "\"last_ack_us\":%lld,\"seconds\":%.6f,\"rate\":%.1f,\"qos\":%d,\"devices\":%d,"
         "\"connections\":%d,\"target_rate\":%.1f}\n",
         published, g_acked, first_us, last_pub_us, g_last_ack_us, secs,
         secs > 0 ? (double)published / secs : 0.0, qos, ndev, nconn, rate);
  free(devs);
  free(conns);
  free(fds);
  return 0;
}
