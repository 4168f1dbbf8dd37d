#include "common/serving/live_histories.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "common/events/events.h"
#include "common/ingest/transaction_decoder.h"
#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"
#include "common/kafka/partition_list.h"

namespace towerstream::serving {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{5000};
constexpr milliseconds kTopicRetry{500};
constexpr milliseconds kPollWait{100};
// How often the positions (lag, caught-up) are read from the consumer.
constexpr milliseconds kPositionsEvery{200};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// One decoded message; decoding happens outside the exclusive lock.
using Decoded = std::variant<std::monostate, hm::Article, hm::Customer, hm::Transaction>;

}  // namespace

Status LiveHistoryOptions::Validate() const {
  TS_RETURN_IF_ERROR(kafka.RequireBootstrapServers(client));
  if (client.empty()) return Status::InvalidArgument("the client's name is empty");
  if (history_length == 0) return Status::InvalidArgument("history length must be >= 1");
  if (refresh_interval.count() < 1) {
    return Status::InvalidArgument("the refresh interval must be positive");
  }
  if (topic_timeout.count() < 0) return Status::InvalidArgument("the topic timeout is negative");
  if (batch_size == 0) return Status::InvalidArgument("the batch size must be >= 1");
  return Status::Ok();
}

class LiveHistories::Impl {
 public:
  explicit Impl(const LiveHistoryOptions& options)
      : options_(options),
        topics_(events::TopicNames::WithPrefix(options.topic_prefix)),
        histories_(CustomerHistories::Empty(options.history_length, Date(), options.purchase_log)) {
    changed_ = std::chrono::system_clock::now();
  }

  ~Impl() {
    if (reader_.joinable()) {
      reader_.request_stop();
      reader_.join();
    }
    if (consumer_ != nullptr) consumer_->Close().IgnoreError();
  }

  Status Connect() {
    kafka::ConsumerOptions consumer;
    consumer.config = options_.kafka;
    // A group of its own that never commits: the consumer is assigned every partition and
    // reads from the start; the id only satisfies librdkafka and tells brokers' logs who it is.
    std::random_device random;
    consumer.group_id = options_.topic_prefix + "towerstream-" + options_.client + "-" +
                        std::to_string(getpid()) + "-" + std::to_string(random());
    consumer.config.Set("enable.auto.commit", "false", options_.client);
    consumer.config.Set("enable.auto.offset.store", "false", options_.client);
    // Only what ingest may use: a purchase in an aborted transaction never happened.
    consumer.config.Set("isolation.level", "read_committed", options_.client);
    // The catch-up reads whole topics: keep fetches flowing ahead of the decoding (librdkafka
    // otherwise waits for its local queue to drain before fetching again).
    consumer.config.SetDefault("queued.min.messages", "500000");
    consumer.config.SetDefault("max.partition.fetch.bytes", "4194304");
    TS_ASSIGN_OR_RETURN(consumer_, kafka::Consumer::Create(consumer));
    const std::string brokers = options_.kafka.Get("bootstrap.servers").value_or("?");

    kafka::PartitionList assignment;
    for (const std::string* topic :
         {&topics_.articles, &topics_.customers, &topics_.transactions}) {
      const Clock::time_point deadline = Clock::now() + options_.topic_timeout;
      Result<int> count = kafka::PartitionCount(consumer_->handle(), *topic, kMetadataTimeout);
      while (!count.ok() && Clock::now() < deadline) {
        std::this_thread::sleep_for(kTopicRetry);
        count = kafka::PartitionCount(consumer_->handle(), *topic, kMetadataTimeout);
      }
      if (!count.ok()) {
        return Status(count.status().code(),
                      options_.client + ": topic '" + *topic + "' at " + brokers + ": " +
                          count.status().message() +
                          " (start the pipeline, or replay, first; --topic-prefix must match)");
      }
      for (int32_t p = 0; p < *count; ++p) {
        TS_ASSIGN_OR_RETURN(
            const kafka::Watermarks marks,
            kafka::QueryWatermarks(consumer_->handle(), *topic, p, kMetadataTimeout));
        if (marks.high > marks.low) target_[{*topic, p}] = marks.high;
        partitions_.push_back({*topic, p});
        assignment.Add(*topic, p, RdKafka::Topic::OFFSET_BEGINNING);
      }
    }
    TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(consumer_->handle().assign(assignment.get()),
                                                options_.client + ": assign the topics"));
    caught_up_ = target_.empty();
    reader_ = std::jthread([this](std::stop_token stop) { Run(stop); });
    return Status::Ok();
  }

  Status WaitUntilCaughtUp(milliseconds timeout, std::stop_token stop,
                           const std::function<void(const HistoryFreshness&)>& progress,
                           milliseconds progress_every) {
    const Clock::time_point deadline = Clock::now() + timeout;
    // Without a progress callback there is nothing to wake for but the end.
    Clock::time_point next_progress =
        progress ? Clock::now() + progress_every : Clock::time_point::max();
    std::unique_lock lock(wake_mutex_);
    while (!caught_up_) {
      if (stop.stop_requested()) {
        return Status::Unavailable(options_.client + ": stopped while catching up");
      }
      const Clock::time_point now = Clock::now();
      if (now >= deadline) {
        return Status::DeadlineExceeded(
            options_.client + ": the topics were not read to where they ended at start within " +
            std::to_string(timeout.count() / 1000) + " s (" + std::to_string(Lag()) +
            " messages to go" + (last_error_.empty() ? "" : "; last error: " + last_error_) + ")");
      }
      if (progress && now >= next_progress) {
        lock.unlock();
        progress(Freshness());
        lock.lock();
        next_progress = now + progress_every;
        continue;
      }
      wake_.wait_until(lock, std::min(deadline, next_progress));
    }
    return Status::Ok();
  }

  void Read(const std::function<void(const CustomerHistories&)>& read) const {
    // Through the turnstile: a writer waiting for the lock holds it, so that a steady stream of
    // queries cannot keep the purchases from being applied (glibc's rwlock prefers readers).
    { std::lock_guard turnstile(turnstile_); }
    std::shared_lock lock(histories_mutex_);
    read(histories_);
  }

  HistoryFreshness Freshness() const {
    HistoryFreshness f;
    f.source = "kafka";
    std::lock_guard lock(wake_mutex_);
    f.as_of = as_of_;
    f.customers = customers_;
    f.customers_with_history = customers_with_history_;
    if (newest_day_) f.newest_purchase = *newest_day_;
    f.changed = changed_;
    f.transactions = transactions_;
    f.bad_events = bad_events_;
    f.lag = lag_;
    f.caught_up = caught_up_;
    return f;
  }

  std::string last_error() const {
    std::lock_guard lock(wake_mutex_);
    return last_error_;
  }

 private:
  void Run(std::stop_token stop) {
    std::vector<kafka::Message> batch;
    Clock::time_point next_positions = Clock::now();
    while (!stop.stop_requested()) {
      batch.clear();
      std::string error;
      while (batch.size() < options_.batch_size) {
        Result<std::optional<kafka::Message>> polled =
            consumer_->Poll(batch.empty() ? kPollWait : milliseconds(0));
        if (!polled.ok()) {
          // Broker gone, transport: librdkafka retries on its own; the histories stay as they
          // are and /status shows why they stopped moving.
          error = polled.status().message();
          break;
        }
        if (!polled->has_value()) break;
        batch.push_back(std::move(**polled));
      }
      if (!batch.empty()) Apply(batch);
      {
        std::lock_guard lock(wake_mutex_);
        if (!error.empty() || !batch.empty()) last_error_ = error;
      }
      if (!error.empty()) std::this_thread::sleep_for(kPollWait);
      const Clock::time_point now = Clock::now();
      if (now >= next_positions) {
        UpdatePositions();
        next_positions = now + kPositionsEvery;
      }
      RefreshArticles(now);
    }
  }

  void Apply(const std::vector<kafka::Message>& batch) {
    std::vector<Decoded> decoded(batch.size());
    int64_t bad = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const kafka::Message& m = batch[i];
      if (m.topic == topics_.transactions) {
        // Ingest's decoder: its fast path for the canonical encoding, the library's otherwise.
        Result<events::TransactionEvent> e = ingest::DecodeTransaction(m.value, decode_);
        if (e.ok()) {
          decoded[i] = std::move(e->transaction);
          continue;
        }
      } else if (m.topic == topics_.customers) {
        Result<events::CustomerEvent> e = events::DecodeCustomerEvent(m.value);
        if (e.ok()) {
          decoded[i] = std::move(e->customer);
          continue;
        }
      } else if (m.topic == topics_.articles) {
        Result<events::ArticleEvent> e = events::DecodeArticleEvent(m.value);
        if (e.ok()) {
          decoded[i] = std::move(e->article);
          continue;
        }
      }
      ++bad;
    }
    int64_t transactions = 0;
    std::optional<Date> newest;
    Date as_of;
    int64_t customers = 0, with_history = 0;
    {
      const std::unique_lock lock = LockForWriting();
      for (const Decoded& d : decoded) {
        if (const auto* t = std::get_if<hm::Transaction>(&d)) {
          histories_.Add(*t);
          if (!newest || *newest < t->t_dat) newest = t->t_dat;
          ++transactions;
        } else if (const auto* c = std::get_if<hm::Customer>(&d)) {
          histories_.SetCustomer(*c);
        } else if (const auto* a = std::get_if<hm::Article>(&d)) {
          histories_.SetArticle(*a);
        }
      }
      // The day queries are dated moves with the newest purchase at once; the articles' sales
      // follow at the next refresh.
      if (newest && !(*newest < histories_.as_of())) histories_.AdvanceDate(*newest + 1);
      as_of = histories_.as_of();
      customers = histories_.customers();
      with_history = histories_.customers_with_history();
    }
    std::lock_guard lock(wake_mutex_);
    as_of_ = as_of;
    customers_ = customers;
    customers_with_history_ = with_history;
    bad_events_ += bad;
    transactions_ += transactions;
    if (transactions > 0) purchases_since_refresh_ = true;
    if (newest && (!newest_day_ || *newest_day_ < *newest)) newest_day_ = newest;
    changed_ = std::chrono::system_clock::now();
  }

  // Recomputes the articles' recent sales and best sellers when purchases arrived since the
  // last time and refresh_interval has passed: at most once per interval (tens of milliseconds
  // at Kaggle's size), however fast the purchases come.
  void RefreshArticles(Clock::time_point now) {
    {
      std::lock_guard lock(wake_mutex_);
      if (!purchases_since_refresh_ || now < next_refresh_) return;
      purchases_since_refresh_ = false;
    }
    next_refresh_ = now + options_.refresh_interval;
    RefreshArticlesNow();
  }

  // Only this thread changes the histories, so it may read them without the lock while queries
  // read them too; the exclusive lock is held only to swap the result in.
  void RefreshArticlesNow() {
    ranking::ArticleContext context = histories_.ComputeArticleContext(histories_.as_of());
    const std::unique_lock lock = LockForWriting();
    histories_.SetArticleContext(std::move(context));
  }

  // The exclusive lock, taken through the turnstile (see Read).
  std::unique_lock<std::shared_mutex> LockForWriting() {
    std::unique_lock turnstile(turnstile_);
    return std::unique_lock(histories_mutex_);
  }

  // Lag from the consumer's positions (which count the commit markers of transactional
  // producers, never delivered as messages) and the watermarks its fetches saw.
  void UpdatePositions() {
    kafka::PartitionList positions;
    for (const TopicPartition& tp : partitions_) {
      positions.Add(tp.topic, tp.partition, RdKafka::Topic::OFFSET_INVALID);
    }
    if (consumer_->handle().position(positions.get()) != RdKafka::ERR_NO_ERROR) return;
    int64_t lag = 0;
    bool caught_up = true;
    for (size_t i = 0; i < partitions_.size(); ++i) {
      const TopicPartition& tp = partitions_[i];
      const int64_t position = positions.get()[i]->offset();
      int64_t low = 0, high = 0;
      const bool have_marks = consumer_->handle().get_watermark_offsets(
                                  tp.topic, tp.partition, &low, &high) == RdKafka::ERR_NO_ERROR &&
                              high >= 0;
      const auto target = target_.find(tp);
      if (target != target_.end() && position < target->second) caught_up = false;
      if (have_marks) {
        lag += std::max<int64_t>(0, high - std::max(position, low));
      } else if (target != target_.end()) {
        lag += target->second - std::max<int64_t>(position, 0);
      }
    }
    bool newly_caught_up = false;
    {
      std::lock_guard lock(wake_mutex_);
      newly_caught_up = caught_up && !caught_up_;
    }
    // Before anyone is told: the first queries see the articles' sales of everything read.
    if (newly_caught_up) RefreshArticlesNow();
    std::lock_guard lock(wake_mutex_);
    lag_ = lag;
    if (newly_caught_up) {
      caught_up_ = true;
      purchases_since_refresh_ = false;
    }
    wake_.notify_all();
  }

  int64_t Lag() const { return lag_.value_or(-1); }  // under wake_mutex_

  const LiveHistoryOptions options_;
  const events::TopicNames topics_;
  const events::DecodeOptions decode_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<TopicPartition> partitions_;
  // Where each non-empty partition ended at start: caught up once every position reaches it.
  std::map<TopicPartition, int64_t> target_;

  mutable std::mutex turnstile_;  // held by a writer waiting for histories_mutex_
  mutable std::shared_mutex histories_mutex_;
  CustomerHistories histories_;  // guarded by histories_mutex_; changed on the reader thread

  mutable std::mutex wake_mutex_;  // guards what follows
  std::condition_variable wake_;
  std::optional<Date> newest_day_;
  Date as_of_;  // copies of the histories' figures, so that Freshness needs no histories lock
  int64_t customers_ = 0;
  int64_t customers_with_history_ = 0;
  std::chrono::system_clock::time_point changed_;
  int64_t transactions_ = 0;
  int64_t bad_events_ = 0;
  std::optional<int64_t> lag_;
  bool caught_up_ = false;
  bool purchases_since_refresh_ = false;
  std::string last_error_;

  Clock::time_point next_refresh_;  // reader thread only
  std::jthread reader_;             // declared last: stopped before the rest goes
};

Result<std::unique_ptr<LiveHistories>> LiveHistories::Start(const LiveHistoryOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>(options);
  TS_RETURN_IF_ERROR(impl->Connect());
  return std::unique_ptr<LiveHistories>(new LiveHistories(std::move(impl)));
}

LiveHistories::LiveHistories(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LiveHistories::~LiveHistories() = default;

Status LiveHistories::WaitUntilCaughtUp(
    std::chrono::milliseconds timeout, std::stop_token stop,
    const std::function<void(const HistoryFreshness&)>& progress,
    std::chrono::milliseconds progress_every) {
  return impl_->WaitUntilCaughtUp(timeout, std::move(stop), progress, progress_every);
}

void LiveHistories::Read(const std::function<void(const CustomerHistories&)>& read) const {
  impl_->Read(read);
}

HistoryFreshness LiveHistories::Freshness() const { return impl_->Freshness(); }

std::string LiveHistories::last_error() const { return impl_->last_error(); }

}  // namespace towerstream::serving
