// Trainer: consume hm.examples, train micro-batches, snapshot, and answer the admin API.
#include "common/trainer/trainer.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/events/dead_letter.h"
#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"
#include "common/kafka/partition_list.h"
#include "common/kafka/producer.h"
#include "common/trainer/example_decoder.h"
#include "common/trainer/trainer_impl.h"

namespace towerstream::trainer {
namespace {}  // namespace

void Log(const char* format, ...) {
  std::fprintf(stderr, "towerstream trainer: ");
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

namespace {

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Status TrainerOptions::Validate() const {
  TS_RETURN_IF_ERROR(kafka.RequireBootstrapServers("trainer"));
  if (group.empty()) return Status::InvalidArgument("trainer: the consumer group is empty");
  TS_RETURN_IF_ERROR(session.Validate());
  TS_RETURN_IF_ERROR(decode.Validate());
  if (ranker_days < 1) return Status::InvalidArgument("trainer: --ranker-days must be >= 1");
  if (batch_size < 1) {
    return Status::InvalidArgument("trainer: --batch-size must be at least 1, got " +
                                   std::to_string(batch_size));
  }
  if (order_by_event_time) TS_RETURN_IF_ERROR(order.Validate());
  if (max_batch_delay.count() < 1) {
    return Status::InvalidArgument("trainer: --max-batch-delay-ms must be at least 1");
  }
  TS_RETURN_IF_ERROR(parallel.Validate());
  if (parallel.world_size > 1 && (fit_ranker || ranker_week_start)) {
    return Status::InvalidArgument(
        "trainer: --ranker-data is not supported with --world-size above 1 (rank 0 holds only "
        "its own customers' rows); fit the ranker with a single trainer or `train`");
  }
  if (!admin_address.empty()) {
    admin::AdminServerOptions admin;
    admin.address = admin_address;
    admin.token = admin_token;
    TS_RETURN_IF_ERROR(admin.Validate().WithContext("trainer: --admin-address"));
  }
  return Status::Ok();
}

Status Trainer::Impl::Init() {
  if (in_group()) {
    // The session opens per round (trainer_group.cpp), from the snapshot rank 0 resumes.
    TS_ASSIGN_OR_RETURN(member_, distributed::GroupMember::Create(options_.parallel));
    // Rank 0 keeps the periodic schedule (of the whole group's examples); any rank may ask.
    schedule_ =
        std::make_unique<SnapshotSchedule>(rank() == 0 ? options_.snapshot_every : SnapshotEvery{});
  } else {
    TS_ASSIGN_OR_RETURN(session_, TrainingSession::Open(options_.session, &metrics_));
    schedule_ =
        std::make_unique<SnapshotSchedule>(options_.snapshot_every, session_->events_trained());
    if (const snapshot::Manifest* resumed = session_->resumed()) {
      const auto it = resumed->offsets.find(topics_.examples);
      if (it != resumed->offsets.end()) trained_offsets_ = it->second;
      Log("resuming from snapshot %s: step %lld, %lld examples trained", resumed->id.c_str(),
          static_cast<long long>(resumed->step), static_cast<long long>(resumed->events_trained));
      if (it == resumed->offsets.end()) {
        Log("the snapshot holds no offsets of %s: reading it from the beginning",
            topics_.examples.c_str());
      }
    }
    pending_offsets_ = trained_offsets_;
    consumed_event_day_ = session_->status().trained_event_day;
    if (consumed_event_day_) metrics_.SetConsumedEventTime(*consumed_event_day_);
  }

  kafka::ProducerOptions producer;
  producer.config = options_.kafka;
  producer.config.SetDefault("compression.type", "lz4");
  TS_ASSIGN_OR_RETURN(producer_, kafka::Producer::Create(producer));

  kafka::ConsumerOptions consumer;
  consumer.config = options_.kafka;
  consumer.group_id = options_.topic_prefix + options_.group;
  consumer.config.Set("enable.auto.commit", "false", "trainer");
  consumer.config.Set("enable.auto.offset.store", "false", "trainer");
  consumer.config.Set("isolation.level", "read_committed", "trainer");
  // Keep fetches flowing ahead of the training step (librdkafka 2.0 otherwise waits for its
  // local queue to drain to 100k messages' worth before fetching again).
  consumer.config.SetDefault("queued.min.messages", "200000");
  TS_ASSIGN_OR_RETURN(consumer_, kafka::Consumer::Create(consumer));

  if (!options_.admin_address.empty()) {
    admin::AdminServerOptions admin;
    admin.address = options_.admin_address;
    admin.token = options_.admin_token;
    TS_ASSIGN_OR_RETURN(
        admin_,
        admin::AdminServer::Start(admin, [this](const admin::AdminRequest& r, admin::Reply reply) {
          HandleAdmin(r, std::move(reply));
        }));
    Log("admin API on http://%s (POST /snapshot, GET /status, GET /healthz)",
        admin_->address().c_str());
  }
  batch_.reserve(static_cast<size_t>(options_.batch_size));
  ids_.reserve(static_cast<size_t>(options_.batch_size));
  Publish("starting");
  return Status::Ok();
}

Status Trainer::Impl::WaitForTopic(std::stop_token stop, int* partitions) {
  bool logged = false;
  while (!stop.stop_requested()) {
    Result<int> count = kafka::PartitionCount(*producer_, topics_.examples, kMetadataTimeout);
    if (count.ok()) {
      *partitions = *count;
      return Status::Ok();
    }
    if (!logged) {
      Log("waiting for topic %s (%s)", topics_.examples.c_str(), count.status().message().c_str());
      logged = true;
    }
    std::this_thread::sleep_for(kTopicWait);
  }
  return Status::Ok();
}

std::vector<int32_t> Trainer::Impl::OwnPartitions(int partitions) const {
  std::vector<int32_t> own;
  for (int32_t p = rank(); p < partitions; p += world_size()) own.push_back(p);
  return own;
}

Status Trainer::Impl::Assign(int partitions) {
  assigned_ = OwnPartitions(partitions);
  kafka::PartitionList list;
  for (const int32_t p : assigned_) {
    const auto it = trained_offsets_.find(p);
    list.Add(topics_.examples, p,
             it != trained_offsets_.end() ? it->second : RdKafka::Topic::OFFSET_BEGINNING);
  }
  for (const auto& [p, offset] : trained_offsets_) {
    if (p >= partitions) {
      return Status::FailedPrecondition(
          "the snapshot has offsets of " + topics_.examples + " partition " + std::to_string(p) +
          " but the topic has only " + std::to_string(partitions) + " partitions");
    }
  }
  TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(consumer_->handle().assign(list.get()),
                                              "assign " + topics_.examples));
  partitions_ = partitions;
  if (options_.order_by_event_time) {
    order_ = std::make_unique<EventTimeOrder<Delivered>>(
        options_.order, static_cast<int>(assigned_.size()), Clock::now());
  }
  std::string which;
  if (in_group()) {
    which = " (rank " + std::to_string(rank()) + "'s share:";
    for (const int32_t p : assigned_) which += " " + std::to_string(p);
    which += assigned_.empty() ? " none)" : ")";
  }
  Log("reading %s: %zu of %d partitions%s%s", topics_.examples.c_str(), assigned_.size(),
      partitions, which.c_str(), order_ ? ", trained in event-time order across them" : "");
  return Status::Ok();
}

Status Trainer::Impl::DeadLetter(RdKafka::Message& message, const Status& error) {
  events::DeadLetter letter;
  if (message.key() != nullptr) letter.key = *message.key();
  letter.payload.assign(static_cast<const char*>(message.payload()), message.len());
  letter.reason = events::DecodeErrorReason(error);
  letter.error = error.message();
  letter.source_topic = topics_.examples;
  letter.source_partition = message.partition();
  letter.source_offset = message.offset();
  kafka::Message out;
  out.topic = topics_.dlq;
  out.key = letter.key;
  out.value = letter.payload;
  for (auto& [key, value] : events::DeadLetterHeaders(letter)) {
    out.headers.push_back({std::move(key), std::move(value)});
  }
  // A dead letter that cannot be written stops the trainer before its offset reaches a
  // snapshot, so the message is read again after a restart rather than lost.
  TS_RETURN_IF_ERROR(producer_->Produce(out).WithContext("dead-letter to " + topics_.dlq));
  ++dead_lettered_;
  metrics_.DeadLettered(std::string(events::DlqReasonName(letter.reason))).Increment();
  Log("dead-lettered %s[%d]@%lld (%s): %s", topics_.examples.c_str(), message.partition(),
      static_cast<long long>(message.offset()),
      std::string(events::DlqReasonName(letter.reason)).c_str(), error.message().c_str());
  return Status::Ok();
}

Status Trainer::Impl::HandleMessage(RdKafka::Message& message) {
  ++consumed_;
  metrics_.Consumed(topics_.examples).Increment();
  Delivered delivered;
  delivered.offset = message.offset();
  model::Example example;
  const std::string_view payload(static_cast<const char*>(message.payload()), message.len());
  const Status decoded = DecodeExample(payload, options_.decode, &example, &delivered.id);
  int64_t event_time = kAnyEventTime;
  if (decoded.ok()) {
    event_time = example.day;
    if (!consumed_event_day_ || example.day > consumed_event_day_->days_since_epoch()) {
      consumed_event_day_ = Date(example.day);
      metrics_.SetConsumedEventTime(*consumed_event_day_);
    }
    delivered.example = std::move(example);
  } else {
    TS_RETURN_IF_ERROR(DeadLetter(message, decoded));
  }
  const int32_t partition = message.partition();
  if (!order_) {
    Take(partition, std::move(delivered));
    return Status::Ok();
  }
  order_->Add(SlotOf(partition), event_time, std::move(delivered), Clock::now());
  if (order_->Full(SlotOf(partition)) && !paused_.contains(partition)) {
    TS_RETURN_IF_ERROR(PausePartitions({partition}, /*pause=*/true));
  }
  return Status::Ok();
}

void Trainer::Impl::Take(int32_t partition, Delivered delivered) {
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ = Clock::now();
  }
  if (delivered.example) {
    batch_.push_back(std::move(*delivered.example));
    ids_.push_back(std::move(delivered.id));
  }
  pending_offsets_[partition] = delivered.offset + 1;
}

Status Trainer::Impl::TakeInOrder() {
  if (!order_) return Status::Ok();
  std::vector<int32_t> drained;
  const Clock::time_point now = Clock::now();
  while (static_cast<int64_t>(batch_.size()) < options_.batch_size) {
    std::optional<std::pair<int32_t, Delivered>> next = order_->Next(now);
    if (!next) break;
    const int32_t partition = PartitionOf(next->first);
    Take(partition, std::move(next->second));
    if (paused_.contains(partition) && order_->Drained(next->first)) {
      paused_.erase(partition);
      drained.push_back(partition);
    }
  }
  if (!drained.empty()) TS_RETURN_IF_ERROR(PausePartitions(drained, /*pause=*/false));
  return Status::Ok();
}

Status Trainer::Impl::PausePartitions(const std::vector<int32_t>& partitions, bool pause) {
  // librdkafka drops what it prefetched for a paused partition and, on resume, fetches again
  // from the message after the last one consumed: what order_ holds is neither lost nor read
  // twice.
  kafka::PartitionList list;
  for (const int32_t p : partitions) list.Add(topics_.examples, p, 0);
  if (pause) {
    for (const int32_t p : partitions) paused_.insert(p);
    return kafka::StatusFromRdKafka(consumer_->handle().pause(list.get()),
                                    "pause " + topics_.examples);
  }
  return kafka::StatusFromRdKafka(consumer_->handle().resume(list.get()),
                                  "resume " + topics_.examples);
}

Status Trainer::Impl::TrainPending() {
  if (!batch_.empty()) TS_RETURN_IF_ERROR(MaybeFitRanker());
  if (!batch_.empty()) TS_RETURN_IF_ERROR(session_->TrainBatch(batch_, ids_));
  trained_offsets_ = pending_offsets_;
  batch_.clear();
  ids_.clear();
  batch_open_ = false;
  Publish(RunningState());
  return Status::Ok();
}

Status Trainer::Impl::MaybeFitRanker() {
  // A ranker resumed with the session was fitted already (this run or an earlier one).
  if (!options_.fit_ranker || !options_.ranker_week_start || ranker_tried_ || session_->ranker()) {
    return Status::Ok();
  }
  const int32_t week_start = options_.ranker_week_start->days_since_epoch();
  if (std::none_of(batch_.begin(), batch_.end(),
                   [&](const model::Example& e) { return e.day >= week_start; })) {
    return Status::Ok();
  }
  ranker_tried_ = true;
  const Date start = *options_.ranker_week_start;
  const Date end = start + options_.ranker_days;
  std::fprintf(stderr,
               "towerstream trainer: the stream reached %s: fitting the ranker on %s .. %s, "
               "before the towers train on those days\n",
               start.ToString().c_str(), start.ToString().c_str(), (end + (-1)).ToString().c_str());
  Result<ranking::Ranker> ranker = options_.fit_ranker(session_->model(), start, end);
  if (!ranker.ok()) {
    // Training goes on; the towers alone rank until a later run fits one.
    std::fprintf(stderr, "towerstream trainer: warning: no ranker: %s\n",
                 ranker.status().message().c_str());
    return Status::Ok();
  }
  std::fprintf(stderr, "towerstream trainer: ranker %s\n", ranker->Describe().c_str());
  session_->SetRanker(std::move(*ranker));
  return Status::Ok();
}

Status Trainer::Impl::Snapshot() {
  if (session_->events_trained() == 0) {
    // An untrained model recommends nothing worth serving, and as LATEST it would make
    // `recommend` and `serve` fail: a request is refused and no snapshot is written.
    std::vector<admin::Reply> waiters;
    {
      std::lock_guard lock(mu_);
      waiters.swap(snapshot_waiters_);
    }
    for (admin::Reply& reply : waiters) {
      reply(admin::JsonError(409, "nothing trained yet: no snapshot written"));
    }
    if (!waiters.empty()) Log("snapshot requested before any example was trained: none written");
    schedule_->Done(0);
    return Status::Ok();
  }
  Offsets offsets;
  if (!trained_offsets_.empty()) offsets[topics_.examples] = trained_offsets_;
  Result<std::string> id = session_->Snapshot(offsets);
  if (!id.ok()) {
    ++snapshot_failures_;
    metrics_.snapshot_failures.Increment();
    AnswerSnapshotWaiters(id);
    Publish(RunningState());
    return id.status();
  }
  schedule_->Done(session_->events_trained());
  CommitToGroup();
  const SessionStatus s = session_->status();
  Log("snapshot %s: step %lld, %lld examples trained", id->c_str(), static_cast<long long>(s.step),
      static_cast<long long>(s.events_trained));
  AnswerSnapshotWaiters(id);
  Publish(RunningState());
  return Status::Ok();
}

void Trainer::Impl::AnswerSnapshotWaiters(const Result<std::string>& id) {
  std::vector<admin::Reply> waiters;
  {
    std::lock_guard lock(mu_);
    waiters.swap(snapshot_waiters_);
  }
  if (!id.ok()) {
    for (admin::Reply& reply : waiters) {
      reply(admin::JsonError(500, "snapshot failed: " + id.status().message()));
    }
    return;
  }
  const SessionStatus s = session_->status();
  // A group's snapshot holds every rank's examples.
  const int64_t events = in_group() ? group_events_ : s.events_trained;
  const nlohmann::json body = {{"snapshot_id", *id},
                               {"path", (options_.session.snapshot_dir / *id).string()},
                               {"step", s.step},
                               {"events_trained", events}};
  for (admin::Reply& reply : waiters) reply({200, "application/json", body.dump()});
}

void Trainer::Impl::CommitToGroup() {
  if (trained_offsets_.empty()) return;
  kafka::PartitionList list;
  for (const auto& [p, offset] : trained_offsets_) list.Add(topics_.examples, p, offset);
  // Informational (lag in Kafka's tools): a failure costs nothing, the snapshot is the truth.
  consumer_->handle().commitAsync(list.get());
}

void Trainer::Impl::UpdateLag() {
  // The consumer's position counts the commit markers of ingest's Kafka transactions, which
  // are never delivered as messages: without it a caught-up partition would show a lag of one.
  kafka::PartitionList positions;
  for (const int32_t p : assigned_) {
    positions.Add(topics_.examples, p, RdKafka::Topic::OFFSET_INVALID);
  }
  const bool have_positions =
      !positions.empty() && consumer_->handle().position(positions.get()) == RdKafka::ERR_NO_ERROR;
  // Every assigned partition, also those nothing was read from yet (their lag is all of it).
  for (size_t slot = 0; slot < assigned_.size(); ++slot) {
    const int32_t p = assigned_[slot];
    int64_t low = 0, high = 0;
    if (consumer_->handle().get_watermark_offsets(topics_.examples, p, &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    const auto it = pending_offsets_.find(p);
    int64_t next = it != pending_offsets_.end() ? it->second : std::max<int64_t>(low, 0);
    if (have_positions) {
      next = std::max(next, positions.get()[slot]->offset());
    }
    lag_[p] = std::max<int64_t>(0, high - next);
    metrics_.SetLag(topics_.examples, p, lag_[p]);
  }
}

std::string Trainer::Impl::RunningState() const {
  if (stopping_) return "stopping";
  // The lag of every partition must be known: before the first watermarks arrive, or while the
  // broker does not answer, the trainer cannot tell that it is caught up.
  const bool caught_up =
      !batch_open_ && (!order_ || order_->buffered() == 0) && partitions_ > 0 &&
      lag_.size() == assigned_.size() &&
      std::all_of(lag_.begin(), lag_.end(), [](const auto& entry) { return entry.second == 0; });
  return caught_up ? "idle" : "training";
}

void Trainer::Impl::Publish(const std::string& state) {
  Published p;
  if (session_) p.session = session_->status();
  p.group_round = round_ != nullptr ? round_->round() : 0;
  p.group_breaks = group_breaks_;
  p.group_events = group_events_;
  p.partitions = assigned_;
  if (!trained_offsets_.empty()) p.offsets[topics_.examples] = trained_offsets_;
  p.lag = lag_;
  p.consumed = consumed_;
  p.dead_lettered = dead_lettered_;
  p.held = order_ ? order_->buffered() : 0;
  p.snapshot_failures = snapshot_failures_;
  p.consumed_event_day = consumed_event_day_;
  p.state = state;
  std::lock_guard lock(mu_);
  published_ = std::move(p);
}

nlohmann::json Trainer::Impl::StatusJson() {
  Published p;
  {
    std::lock_guard lock(mu_);
    p = published_;
  }
  const SessionStatus& s = p.session;
  nlohmann::json offsets = nlohmann::json::object();
  for (const auto& [topic, partitions] : p.offsets) {
    for (const auto& [partition, offset] : partitions) {
      offsets[topic][std::to_string(partition)] = offset;
    }
  }
  nlohmann::json lag = nlohmann::json::object();
  for (const auto& [partition, value] : p.lag) lag[std::to_string(partition)] = value;
  // A resume that fell back past damaged snapshots (or a missing LATEST) says so for as long as
  // the trainer runs.
  nlohmann::json resume_skipped = nlohmann::json::array();
  for (const auto& [id, why] : s.resume_skipped) {
    resume_skipped.push_back({{"snapshot", id}, {"reason", why}});
  }
  // How far training has got in event time, and how far behind what was consumed it is (days
  // held for event-time order or waiting in a micro-batch).
  nlohmann::json event_time = {{"trained", nullptr},
                               {"trained_unix_seconds", nullptr},
                               {"newest_consumed", nullptr},
                               {"lag_days", nullptr}};
  if (s.trained_event_day) {
    event_time["trained"] = s.trained_event_day->ToString();
    event_time["trained_unix_seconds"] = int64_t{s.trained_event_day->days_since_epoch()} * 86'400;
  }
  if (p.consumed_event_day) {
    event_time["newest_consumed"] = p.consumed_event_day->ToString();
    if (s.trained_event_day) {
      event_time["lag_days"] = std::max(0, *p.consumed_event_day - *s.trained_event_day);
    }
  }
  nlohmann::json last_snapshot = nullptr;
  if (!s.last_snapshot_id.empty()) {
    last_snapshot = {{"id", s.last_snapshot_id},
                     {"unix_time", UnixSeconds(s.last_snapshot_time)},
                     {"path", (options_.session.snapshot_dir / s.last_snapshot_id).string()}};
  }
  return {
      {"state", p.state},
      {"step", s.step},
      {"events_trained", s.events_trained},
      {"events_consumed", p.consumed},
      {"events_dead_lettered", p.dead_lettered},
      {"events_held_for_event_time_order", p.held},
      {"examples_per_second", s.examples_per_second},
      {"event_time", event_time},
      {"loss", s.loss},
      {"progressive_recall",
       {{"at_12", s.recall_at_12}, {"at_100", s.recall_at_100}, {"queries", s.recall_queries}}},
      {"vocabulary",
       {{"customers", s.model.customers.rows_in_use},
        {"articles", s.model.articles.rows_in_use},
        {"catalogue", s.model.catalogue}}},
      {"offsets", offsets},
      {"lag", lag},
      {"last_snapshot", last_snapshot},
      {"snapshot_failures", p.snapshot_failures},
      {"resumed_from",
       s.resumed_from.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.resumed_from)},
      {"resume_skipped", resume_skipped},
      {"group", in_group() ? nlohmann::json{{"rank", rank()},
                                            {"world_size", world_size()},
                                            {"partitions", p.partitions},
                                            {"round", p.group_round},
                                            {"breaks", p.group_breaks},
                                            {"events_trained", p.group_events}}
                           : nlohmann::json(nullptr)},
  };
}

void Trainer::Impl::HandleAdmin(const admin::AdminRequest& request, admin::Reply reply) {
  const auto method_not_allowed = [&](const char* allowed) {
    reply(admin::JsonError(405, request.path + " takes " + allowed + ", not " + request.method));
  };
  if (request.path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET");
    reply({200, "application/json", R"({"status":"ok"})"});
  } else if (request.path == "/status") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET");
    reply({200, "application/json", StatusJson().dump()});
  } else if (request.path == "/snapshot") {
    if (request.method != "POST") return method_not_allowed("POST");
    {
      std::lock_guard lock(mu_);
      snapshot_waiters_.push_back(std::move(reply));
    }
    schedule_->Request();
  } else {
    reply(admin::JsonError(404, "no such endpoint: " + request.path +
                                    " (try POST /snapshot, GET /status, GET /healthz)"));
  }
}

Status Trainer::Impl::Run(std::stop_token stop) {
  if (in_group()) return RunGroup(stop);
  int partitions = 0;
  TS_RETURN_IF_ERROR(WaitForTopic(stop, &partitions));
  if (stop.stop_requested()) return Snapshot();  // nothing consumed yet
  TS_RETURN_IF_ERROR(Assign(partitions));
  Publish(RunningState());
  Clock::time_point last_gauges = Clock::now();
  while (!stop.stop_requested()) {
    milliseconds timeout = kPollSlice;
    if (batch_open_) {
      const auto left = std::chrono::duration_cast<milliseconds>(options_.max_batch_delay -
                                                                 (Clock::now() - batch_started_));
      timeout = std::clamp(left, milliseconds(0), kPollSlice);
    }
    TS_RETURN_IF_ERROR(ConsumeOne(timeout));
    // Whatever order_ can release now may fill several micro-batches (after a pause, or once a
    // partition behind in event time catches up).
    while (true) {
      TS_RETURN_IF_ERROR(TakeInOrder());
      const bool full = static_cast<int64_t>(batch_.size()) >= options_.batch_size;
      const bool late = batch_open_ && Clock::now() - batch_started_ >= options_.max_batch_delay;
      if (!full && !late) break;
      TS_RETURN_IF_ERROR(TrainPending());
      if (!full) break;
    }
    if (schedule_->Due(session_->events_trained()) && Clock::now() >= next_snapshot_try_) {
      TS_RETURN_IF_ERROR(FlushDeadLetters());
      const Status s = Snapshot();
      // A failed snapshot (a full disk) is retried after a pause that doubles up to 5 minutes,
      // not after every micro-batch; training goes on meanwhile.
      if (s.ok()) {
        snapshot_backoff_ = kFirstSnapshotBackoff;
      } else {
        Log("snapshot failed (next try in %lld s): %s",
            static_cast<long long>(snapshot_backoff_.count()), s.message().c_str());
        next_snapshot_try_ = Clock::now() + snapshot_backoff_;
        snapshot_backoff_ = std::min(2 * snapshot_backoff_, kMaxSnapshotBackoff);
      }
    }
    if (Clock::now() - last_gauges >= kGaugeInterval) {
      last_gauges = Clock::now();
      producer_->Poll(milliseconds(0));
      UpdateLag();
      Publish(RunningState());
    }
  }
  stopping_ = true;
  Publish("stopping");
  Log("stopping: writing the final snapshot");
  TS_RETURN_IF_ERROR(FlushDeadLetters());
  return Snapshot();
}

Status Trainer::Impl::ConsumeOne(milliseconds timeout) {
  const std::unique_ptr<RdKafka::Message> message(
      consumer_->handle().consume(static_cast<int>(timeout.count())));
  switch (message->err()) {
    case RdKafka::ERR_NO_ERROR:
      return HandleMessage(*message);
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__PARTITION_EOF:
      return Status::Ok();
    default:
      // The consumer retries by itself (a broker outage): logged, not fatal.
      if (Clock::now() - last_error_log_ >= kErrorLogInterval) {
        last_error_log_ = Clock::now();
        Log("consume: %s (retrying)", message->errstr().c_str());
      }
      return Status::Ok();
  }
}

Status Trainer::Impl::FlushDeadLetters() {
  // Dead letters of the offsets a snapshot is about to record must be on hm.dlq first: once in
  // a snapshot, those messages are never read again. A failure here is fatal for the same
  // reason (the producer reports a failed delivery only once).
  return producer_->Flush(kFlushTimeout).WithContext("writing dead letters to " + topics_.dlq);
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

Result<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options,
                                                 prometheus::Registry& registry) {
  TS_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>(options, registry);
  TS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

Status Trainer::Run(std::stop_token stop) {
  const Status status = impl_->Run(stop);
  // A stopped service ended cleanly; an error ends its MLflow run as FAILED.
  if (TrainingSession* session = impl_->session()) {
    session->EndTracking(status.ok() ? mlflow::RunStatus::kFinished : mlflow::RunStatus::kFailed);
  }
  return status;
}
void Trainer::RequestSnapshot() { impl_->RequestSnapshot(); }
std::string Trainer::admin_address() const { return impl_->admin_address(); }

}  // namespace towerstream::trainer
