#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (one file per input, named by the SHA-1
of its bytes, as libFuzzer names them). Sources: tests/data/payloads.jsonl (real payloads
and topics of the projects iotd replaces) and the inputs of the unit tests. Re-run after
changing a seed list; files already there (libFuzzer finds, regression inputs) are kept.
Usage: python3 fuzz/make_corpus.py"""
import hashlib
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


samples = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "data", "payloads.jsonl")) if l.strip()]

# decoder: every sample payload, and a few shapes the samples lack.
for s in samples:
    write("decoder", s["payload"])
for extra in ['{"device_id":"d1","metrics":{"a":1,"b":{"c":2}}}', '[{"n":"temp","v":21.5},{"n":"hum","v":40}]',
              '{"ts":1769644800000,"values":{"t":1e999,"x":"27.93 \\u00b0C"}}', '{"a":' * 20 + '1' + '}' * 20,
              '{"device_id":"d","measurements":[{"type":"t","val":"1"}],"seq":3,"msg_id":"x"}']:
    write("decoder", extra)

# time: ISO 8601 forms, durations, query times, epochs (as text and as 8 raw bytes).
times = ["2026-01-29T14:30:45.123Z", "2026-01-29T14:30:45.123456Z", "2026-01-29 14:30:45",
         "2024-01-15 10:30:00+00", "2026-01-29T16:30:45.123+0200", "2026-01-29T09:00:45.123-05:30",
         "2026-01-29", "2000-02-29", "2026-02-30T00:00:00Z", "2026-01-29t14:30:45,123z", "24h", "15m",
         "500ms", "7d", "1w", "1.5h", "-24h", "+1h", "now", "now()", "1769644800", "1769644800123",
         "1769644800123456", "1706539845.123456"]
for t in times:
    write("time", t)
for v in [1706539845.123456, 1769644800123.0, 1e17, -1.0, 0.0]:
    write("time", struct.pack("<d", v))
for v in [1769644800, 1769644800123, 1769644800123456, -1, 2**63 - 1]:
    write("time", struct.pack("<q", v))

# params: query strings of the API's routes ("<path id>\n<query>" or just the query).
for q in ["limit=5", "device_id=ESP32_001&metric=temperature&from=-24h&to=now&limit=100",
          "from=2026-01-29T00:00:00Z&to=2026-01-30&order=desc&next=18c0e2a0b00_2a",
          "interval=5m&fn=avg&metric=temperature&from=-1h", "format=csv&limit=10000000",
          "format=ndjson&device_id=a&start=1769644800&end=1769648400", "state=active&severity=critical",
          "reason=not_json&limit=3", "before=-1_1&purge=yes", "a=%41%2&b=+x+", "bucket=1h&agg=max",
          "ESP32_001\nmetric=temperature&limit=2", "dev-1\ninterval=1d&from=-7d"]:
    write("params", q)

# topic: "<templates>\n<topics>...", from the samples' topics and the topic tests.
topics = sorted({s["topic"] for s in samples if s.get("topic")})
write("topic", "sensors/{device_id}/data\n" + "\n".join(topics))
for tpl, tps in [("sensors/+/data", ["sensors/d1/data", "sensors//data", "$SYS/x/data"]),
                 ("tele/f2-{device_id}/#", ["tele/f2-abc/SENSOR", "tele/f2-/x"]),
                 ("dev/{device_id}.meter/up", ["dev/m1.meter/up"]),
                 ("+/f2-{device_id}/#,decoded_iot_data,#", ["a/f2-b", "decoded_iot_data"]),
                 ("$share/iotd/sensors/{device_id}/data", ["sensors/x/data"]),
                 ("devices/{device_id}/ack,a/#/b", ["devices/d/ack"])]:
    write("topic", tpl + "\n" + "\n".join(tps))


# journal: "<fix-up byte><records>" with real records (docs/architecture.md §4); the target
# rewrites checksums and seqs when asked, so seeds carry zeros there.
def record(seq, topic, payload, flags=0, ts=1769644800000):
    t, p = topic.encode(), payload.encode()
    rest = struct.pack("<QqBH", seq, ts, flags, len(t)) + t + p
    return struct.pack("<II", 0x31524649, 8 + len(rest)) + struct.pack("<Q", 0) + rest


recs = [record(i + 1, s["topic"] or "t", s["payload"], i % 3) for i, s in enumerate(samples[:6])]
write("journal", bytes([3]) + b"".join(recs))
write("journal", bytes([3]) + b"".join(recs[:3]) + recs[3][:20])  # torn tail
write("journal", bytes([1]) + b"".join(recs[:2]))                  # seqs as written
write("journal", bytes([0]) + recs[0])                             # bad checksum
write("journal", bytes([3]))

# http: "METHOD TARGET\nheaders\n\nbody" through the router, guard and handlers.
A = "x-api-key: fuzz-admin-key"
D = "authorization: Bearer fuzz-device-key"
for req in ["GET /api/v1/readings?device_id=dev-1&limit=5\n" + A + "\n\n",
            "GET /api/v1/devices/dev-1/history?metric=temperature&from=-10y\n" + A + "\n\n",
            "GET /api/v1/readings/latest?device_id=dev-1\n\n", "GET /api/v1/stats?device_id=dev-2\n" + A + "\n\n",
            "GET /api/v1/aggregate?device_id=dev-1&metric=temperature&interval=5m&from=2026-01-29&to=2026-01-30\n" + A + "\n\n",
            "GET /api/v1/export?format=ndjson&limit=10\n" + A + "\n\n",
            "GET /api/v1/export?format=csv&device_id=dev-1\n" + A + "\n\n",
            "GET /api/v1/alerts\n" + A + "\n\n", "GET /api/v1/rejects?limit=2\n" + A + "\n\n",
            "PUT /api/v1/rules/temperature\n" + A + "\n\n" + '{"max":30,"min":-10,"severity":"warning"}',
            "POST /api/v1/alerts\n" + A + "\n\n" + '{"device_id":"dev-1","metric":"temperature","message":"hot","severity":"critical"}',
            "POST /api/v1/alerts/1/ack\n" + A + "\n\n", "GET /api/devices/dev-1/raw-data?limit=3\n\n",
            "GET /api/sensors/ml-data?metric=temperature\n\n", "PUT /api/devices/dev-1\n" + A + "\n\n" + '{"name":"n","location":"l"}',
            "GET /api/v1/devices\n" + A + "\n\n", "GET /api/v1/devices/dev-1\n" + D + "\n\n",
            "PATCH /api/v1/devices/dev-1\n" + A + "\n\n" + '{"name":"x","metadata":{"a":1}}',
            "POST /api/v1/devices/dev-1/heartbeat\n" + D + "\n\n",
            "POST /api/v1/ingest\n" + D + "\n\n" + '{"temperature":21.5}',
            "POST /api/v1/devices/dev-1/commands\n" + A + "\n\n" + '{"command":"reboot"}',
            "GET /api/v1/devices/dev-1\nx-api-key: wrong\n\n", "DELETE /api/v1/readings/latest\n\n",
            "GET /api/sensors/latest\n\n", "GET /api/devices\n\n", "GET /metrics\n\n"]:
    write("http", req)
