/* iotd-bench-mosq-sub: the ingest benchmark's reference subscriber, plain C on libmosquitto:
 * subscribes to a filter, counts what arrives and nothing else (BENCHMARKS.md, "Ingest").
 * Prints "ready" on stderr after the SUBACK; stops after --count messages, after --idle
 * seconds without one (once one arrived), after --timeout seconds, or on SIGINT/SIGTERM;
 * then prints one JSON object: received, first_receive_us, last_receive_us, cpu_s (its
 * getrusage user+system seconds). */
#include <mosquitto.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char* kUsage =
    "usage: iotd-bench-mosq-sub [options]\n"
    "  --host H        broker (default 127.0.0.1)\n"
    "  --port P        (default 1883)\n"
    "  --qos Q         subscription QoS (default 1)\n"
    "  --topic F       (default sensors/+/data)\n"
    "  --count N       stop after N messages (default: never)\n"
    "  --idle S        stop S seconds after the last message (default 0: never)\n"
    "  --timeout S     stop after S seconds in all (default 300)\n"
    "  --client-id ID  (default mosq-sub-<pid>)\n";

static volatile sig_atomic_t g_stop = 0;
static long long g_received = 0, g_first_us = 0, g_last_us = 0;
static int g_subscribed = 0;

static long long wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void on_message(struct mosquitto* m, void* obj, const struct mosquitto_message* msg) {
  (void)m;
  (void)obj;
  (void)msg;
  g_last_us = wall_us();
  if (!g_received) g_first_us = g_last_us;
  ++g_received;
}

static void on_subscribe(struct mosquitto* m, void* obj, int mid, int n, const int* granted) {
  (void)m;
  (void)obj;
  (void)mid;
  (void)n;
  (void)granted;
  g_subscribed = 1;
  fprintf(stderr, "mosq-sub: ready\n");
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  const char* topic = "sensors/+/data";
  int port = 1883, qos = 1;
  long long count = 0;
  double idle = 0, timeout = 300;
  char id[96];
  snprintf(id, sizeof id, "mosq-sub-%ld", (long)getpid());
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      fputs(kUsage, stdout);
      return 0;
    }
    if (!v) {
      fprintf(stderr, "mosq-sub: %s needs a value\n%s", a, kUsage);
      return 2;
    }
    ++i;
    if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) port = atoi(v);
    else if (strcmp(a, "--qos") == 0) qos = atoi(v);
    else if (strcmp(a, "--topic") == 0) topic = v;
    else if (strcmp(a, "--count") == 0) count = atoll(v);
    else if (strcmp(a, "--idle") == 0) idle = atof(v);
    else if (strcmp(a, "--timeout") == 0) timeout = atof(v);
    else if (strcmp(a, "--client-id") == 0) snprintf(id, sizeof id, "%s", v);
    else {
      fprintf(stderr, "mosq-sub: unknown option %s\n%s", a, kUsage);
      return 2;
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  mosquitto_lib_init();
  struct mosquitto* m = mosquitto_new(id, true, NULL);
  mosquitto_message_callback_set(m, on_message);
  mosquitto_subscribe_callback_set(m, on_subscribe);
  int rc = mosquitto_connect(m, host, port, 60);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_subscribe(m, NULL, topic, qos);
  if (rc != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "mosq-sub: %s:%d: %s\n", host, port, mosquitto_strerror(rc));
    return 1;
  }
  const long long start = wall_us();
  while (!g_stop) {
    rc = mosquitto_loop(m, 100, 1000);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
      fprintf(stderr, "mosq-sub: %s\n", mosquitto_strerror(rc));
      break;
    }
    const long long now = wall_us();
    if (count > 0 && g_received >= count) break;
    if (idle > 0 && g_received > 0 && (double)(now - g_last_us) / 1e6 > idle) break;
    if ((double)(now - start) / 1e6 > timeout) break;
  }
  (void)g_subscribed;
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  printf("{\"received\":%lld,\"first_receive_us\":%lld,\"last_receive_us\":%lld,\"qos\":%d,\"cpu_s\":%.6f}\n",
         g_received, g_first_us, g_last_us, qos, cpu_s);
  return 0;
}
