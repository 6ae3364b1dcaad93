// HTTP ingest (issue 9; docs/architecture.md §7, §11): POST /api/v1/ingest (one message in
// any payload form) and POST /api/v1/ingest/batch (a JSON array of them). The messages go
// to the writer through the IngestSubmitter port and are decoded there like MQTT payloads;
// the answer is sent from the submission's completion, after the transaction holding them
// committed, so no io or pool thread waits for the commit. A DeadlineTimer answers 503
// first when IOTD_INGEST_TIMEOUT passes.
#include <atomic>
#include <memory>
#include <utility>

#include "deadline_timer.hpp"
#include "handlers.hpp"
#include "ingest_body.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {
namespace {

// Seconds a client should wait before retrying: a full queue drains within a commit or
// two; a timeout or a stopped writer usually means the database is struggling.
constexpr const char* kRetrySoon = "1";
constexpr const char* kRetryLater = "5";

Response unavailable(std::string_view code, std::string_view message, const char* retry_after) {
  auto r = error_response(503, code, message);
  r.headers.emplace_back("Retry-After", retry_after);
  return r;
}

// `where`: "" for a single message, "item 3: " in a batch.
Response refuse_other_device(const std::string& where, std::string_view named, std::string_view key_device) {
  return error_response(403, "device_mismatch",
                        where + "the payload names device " + std::string(named) +
                            " but the key belongs to device " + std::string(key_device));
}

// Respond may be reached from the completion and from the timer: the first answer wins.
class Once {
 public:
  explicit Once(Respond r) : respond_(std::move(r)) {}
  void operator()(Response r) {
    if (!done_.exchange(true)) respond_(std::move(r));
  }

 private:
  Respond respond_;
  std::atomic<bool> done_{false};
};

using Answer = Response (*)(std::vector<ItemOutcome>&);

Response on_result(SubmitResult& r, Answer answer, std::chrono::milliseconds timeout) {
  switch (r.status) {
    case SubmitStatus::committed:
      return answer(r.items);
    case SubmitStatus::timed_out:
      return unavailable("ingest_timeout",
                         "the writer did not take the messages within IOTD_INGEST_TIMEOUT (" +
                             std::to_string(timeout.count()) + " ms): nothing was stored; retry",
                         kRetryLater);
    case SubmitStatus::stopped:
      break;
  }
  return unavailable("not_stored", "the writer stopped before committing: nothing was stored; retry",
                     kRetryLater);
}

// Hands `items` to the writer and answers once: answer(outcomes) after the commit, or 503.
void submit(const ApiContext& ctx, std::vector<IngestItem> items, Respond respond, Answer answer) {
  if (!ctx.ingest || !ctx.ingest_timer) {
    respond(unavailable("ingest_unavailable", "HTTP ingest is not enabled on this server", kRetryLater));
    return;
  }
  auto once = std::make_shared<Once>(std::move(respond));
  auto timer = ctx.ingest_timer;
  const auto timeout = ctx.ingest_timeout;
  const auto deadline = DeadlineTimer::Clock::now() + timeout;
  // Armed first: the completion may run before submit() returns, and cancels it.
  const auto ticket = timer->schedule(deadline, [once, timeout] {
    (*once)(unavailable("ingest_timeout",
                        "not committed within IOTD_INGEST_TIMEOUT (" + std::to_string(timeout.count()) +
                            " ms); it may still commit: retry (a message with a device timestamp is "
                            "stored once)",
                        kRetryLater));
  });
  const auto admission = ctx.ingest->submit(
      std::move(items), deadline, [once, timer, ticket, answer, timeout](SubmitResult r) {
        timer->cancel(ticket);
        (*once)(on_result(r, answer, timeout));
      });
  if (admission == Admission::accepted) return;
  timer->cancel(ticket);
  switch (admission) {
    case Admission::queue_full:
      (*once)(unavailable("queue_full", "the ingest queue is full; retry shortly", kRetrySoon));
      return;
    case Admission::too_large:
      (*once)(error_response(413, "payload_too_large", "more than the ingest queue can ever hold; split it"));
      return;
    default:
      (*once)(unavailable("shutting_down", "the server is shutting down; retry", kRetryLater));
      return;
  }
}

Response single_answer(std::vector<ItemOutcome>& items) {
  if (items.size() != 1) return error_response(500, "internal", "internal error; see the server log");
  const ItemOutcome& o = items.front();
  if (o.status == ItemStatus::rejected) {
    if (o.reason == "device_mismatch") return error_response(403, o.reason, o.detail);
    return error_response(400, o.reason, o.detail);
  }
  const bool stored = o.status == ItemStatus::stored;
  JsonWriter w(96 + o.device_id.size() + o.ids.size() * 12);
  w.begin_object();
  w.key("stored").boolean(stored);
  w.key("duplicate").boolean(!stored);
  w.key("device_id").str(o.device_id);
  if (stored) {
    w.key("id").integer(o.ids.front());
    w.key("ids").begin_array();
    for (auto id : o.ids) w.integer(id);
    w.end_array();
  }
  w.end_object();
  return json_response(stored ? 201 : 200, w.take());
}

Response batch_answer(std::vector<ItemOutcome>& items) {
  std::int64_t accepted = 0;
  std::int64_t duplicates = 0;
  JsonWriter w(64 + items.size() * 8);
  w.begin_object();
  for (const auto& o : items) {
    if (o.status == ItemStatus::stored) ++accepted;
    if (o.status == ItemStatus::duplicate) ++duplicates;
  }
  w.key("accepted").integer(accepted);
  w.key("duplicates").integer(duplicates);
  w.key("rejected").begin_array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& o = items[i];
    if (o.status != ItemStatus::rejected) continue;
    w.begin_object();
    w.key("index").integer(static_cast<std::int64_t>(i));
    w.key("reason").str(o.reason);
    w.key("message").str(o.detail);
    w.end_object();
  }
  w.end_array().end_object();
  return ok_json(w);
}

}  // namespace

void ingest(const ApiContext& ctx, const Request& req, const PathParams&, Respond respond) {
  if (blank(req.body)) {
    respond(error_response(400, "not_json", "the body is empty: send one JSON message"));
    return;
  }
  if (!req.auth_device.empty()) {
    if (auto other = other_device(req.body, req.auth_device)) {
      respond(refuse_other_device("", *other, req.auth_device));
      return;
    }
  }
  std::vector<IngestItem> items(1);
  items[0].payload = req.body;
  items[0].device_id = req.auth_device;
  items[0].received_at_ms = time::now_ms();
  items[0].source = MessageSource::http;
  submit(ctx, std::move(items), std::move(respond), single_answer);
}

void ingest_batch(const ApiContext& ctx, const Request& req, const PathParams&, Respond respond) {
  auto parts = split_json_array(req.body, kMaxIngestBatch);
  if (!parts) {
    respond(parts.error().to_response());
    return;
  }
  if (!req.auth_device.empty()) {
    for (std::size_t i = 0; i < parts->size(); ++i) {
      if (auto other = other_device((*parts)[i], req.auth_device)) {
        respond(refuse_other_device("item " + std::to_string(i) + ": ", *other, req.auth_device));
        return;
      }
    }
  }
  const auto now = time::now_ms();
  std::vector<IngestItem> items(parts->size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].payload = std::string((*parts)[i]);
    items[i].device_id = req.auth_device;
    items[i].received_at_ms = now;
    items[i].source = MessageSource::http;
  }
  submit(ctx, std::move(items), std::move(respond), batch_answer);
}

}  // namespace iotd::http::api
