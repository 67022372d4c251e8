// Tests for include/inference/gateway/model_pool.hpp, on the stub backend plugin wrapped in a
// backend that counts loads and closes, can hold loads at a gate and can fail them.
#include "inference/gateway/model_pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <map>
#include <set>

#include "inference/backend.hpp"
#include "inference/error.hpp"
#include "support/caught_code.hpp"
#include "support/test_inputs.hpp"

namespace inference::gateway {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using testing::caught_code;
using ::testing::HasSubstr;

constexpr std::chrono::hours kNeverIdle{1};  // longer than any test: the idle timer never fires
constexpr std::chrono::seconds kIdleAtOnce{0};

std::filesystem::path stub_plugin() {
  std::string directory = test::environment_or_empty("INFERENCE_TEST_PLUGIN_DIR");
  if (directory.empty()) directory = GATEWAY_TEST_PLUGIN_DIR;
  return std::filesystem::path(directory) / "libbackend_stub.so";
}

// What one loaded model reports in its stats(), set by a test.
struct Report {
  uint64_t restarts = 0;
  bool gave_up = false;
};

// What the counting backend did, and its switches. Used on the test's one thread.
struct Control {
  std::map<std::string, int> loads;                        // by path
  std::map<std::string, int> closes;                       // by path
  std::set<std::string> failing;                           // paths whose load fails
  std::map<std::string, std::shared_ptr<Report>> reports;  // of the latest model loaded from a path
  bool models_give_up = false;                             // every model loaded from now on reports it gave up
  bool gate_open = true;
  std::optional<asio::steady_timer> gate;  // loads wait on it while !gate_open

  int total_loads() const {
    int n = 0;
    for (const auto& [path, count] : loads) n += count;
    return n;
  }
  void close_gate(asio::io_context& io) {
    gate_open = false;
    gate.emplace(io, asio::steady_timer::time_point::max());
  }
  void open_gate() {
    gate_open = true;
    gate->cancel();
  }
};

// The stub's model, counting its closes and reporting what the test sets in its stats().
class CountedModel final : public TextModel {
 public:
  CountedModel(std::shared_ptr<TextModel> inner, std::shared_ptr<Control> control, std::string path)
      : inner_(std::move(inner)), control_(std::move(control)), path_(std::move(path)) {
    report_->gave_up = control_->models_give_up;
    control_->reports[path_] = report_;
  }
  TokenStream generate(std::string prompt, GenerateConfig config) override {
    return inner_->generate(std::move(prompt), std::move(config));
  }
  TokenStream chat(std::vector<Message> messages, GenerateConfig config) override {
    return inner_->chat(std::move(messages), std::move(config));
  }
  ModelInfo info() const override { return inner_->info(); }
  std::string model_type() const override { return inner_->model_type(); }
  ModelStats stats() const override {
    ModelStats stats = inner_->stats();
    stats.restarts = report_->restarts;
    stats.failed = report_->gave_up;
    return stats;
  }
  asio::awaitable<void> close() override {
    ++control_->closes[path_];
    co_await inner_->close();
  }

 private:
  std::shared_ptr<TextModel> inner_;
  std::shared_ptr<Control> control_;
  std::string path_;
  std::shared_ptr<Report> report_ = std::make_shared<Report>();
};

class CountingBackend final : public Backend {
 public:
  CountingBackend(std::shared_ptr<Backend> stub, std::shared_ptr<Control> control)
      : stub_(std::move(stub)), control_(std::move(control)) {}
  std::string name() const override { return "counting"; }
  int priority() const override { return kPriorityOnlyWhenNamed; }
  Availability available() const override { return Availability::yes(); }

  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override {
    ++control_->loads[path];
    if (!control_->gate_open) {
      boost::system::error_code ec;
      co_await control_->gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!control_->gate_open) throw Error(errc::cancelled, "counting load of '" + path + "'");
    }
    if (control_->failing.count(path)) throw Error(errc::invalid_model, "counting load of '" + path + "'");
    auto inner = co_await stub_->load_model(path, std::move(options));
    co_return std::make_shared<CountedModel>(std::move(inner), control_, path);
  }

 private:
  std::shared_ptr<Backend> stub_;
  std::shared_ptr<Control> control_;
};

class ModelPoolTest : public ::testing::Test {
 protected:
  ModelPoolTest() {
    registry_.load_plugin(stub_plugin());
    registry_.add(std::make_shared<CountingBackend>(registry_.get("stub"), control_));
  }

  // A pool serving each name from the path of the same name.
  ModelPool& make_pool(const std::vector<std::string>& names, PoolPolicy policy = {}) {
    std::vector<ServedModel> models;
    for (const auto& name : names) models.push_back(ServedModel{name, name});
    pool_.emplace(io_.get_executor(), registry_, "counting", LoadOptions(), std::move(models), policy);
    return *pool_;
  }

  // Runs `awaitable` and everything it leaves behind (idle timers, closes) until nothing is left.
  template <class T>
  T run(asio::awaitable<T> awaitable) {
    auto future = asio::co_spawn(io_, std::move(awaitable), asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  ModelStatus status_of(const std::string& name) const {
    for (ModelStatus& status : pool_->status()) {
      if (status.name == name) return status;
    }
    ADD_FAILURE() << "no status for " << name;
    return {};
  }
  ModelState state_of(const std::string& name) const { return status_of(name).state; }

  // The error an acquire() fails with (internal_error when it succeeds).
  asio::awaitable<errc> acquire_error(std::string name) {
    try {
      co_await pool_->acquire(std::move(name));
    } catch (...) {
      co_return caught_code(std::current_exception());
    }
    co_return errc::internal_error;
  }

  asio::awaitable<void> yield() { co_await asio::post(io_, asio::use_awaitable); }

  asio::io_context io_;
  std::shared_ptr<Control> control_ = std::make_shared<Control>();
  Registry registry_;
  std::optional<ModelPool> pool_;
};

TEST_F(ModelPoolTest, EagerStartLoadsEveryModelAtOnceAndIsHealthy) {
  ModelPool& pool = make_pool({"a", "b"});
  EXPECT_FALSE(pool.healthy()) << "nothing loaded yet";
  control_->close_gate(io_);
  run([&]() -> asio::awaitable<void> {
    co_await (pool.start() && [&]() -> asio::awaitable<void> {
      co_await yield();
      EXPECT_EQ(control_->total_loads(), 2) << "both loads started before either finished";
      EXPECT_EQ(state_of("a"), ModelState::loading);
      control_->open_gate();
    }());
  }());
  EXPECT_EQ(control_->total_loads(), 2);
  EXPECT_EQ(state_of("a"), ModelState::loaded);
  EXPECT_EQ(state_of("b"), ModelState::loaded);
  EXPECT_TRUE(pool.healthy());
  run(pool.close_all());
}

TEST_F(ModelPoolTest, EagerStartRecordsAFailedLoadAndTheNextAcquireRetriesIt) {
  ModelPool& pool = make_pool({"a", "b"});
  control_->failing.insert("b");
  run(pool.start());  // does not throw
  EXPECT_EQ(state_of("a"), ModelState::loaded);
  const ModelStatus failed = status_of("b");
  EXPECT_EQ(failed.state, ModelState::failed);
  EXPECT_THAT(failed.error, HasSubstr("counting load of 'b'"));
  EXPECT_FALSE(pool.healthy());

  control_->failing.clear();
  run([&]() -> asio::awaitable<void> { co_await pool.acquire("b"); }());
  EXPECT_EQ(control_->loads["b"], 2);
  EXPECT_EQ(state_of("b"), ModelState::loaded);
  EXPECT_TRUE(status_of("b").error.empty());
  EXPECT_TRUE(pool.healthy());
  run(pool.close_all());
}

TEST_F(ModelPoolTest, LazyPoolLoadsAModelOnItsFirstAcquire) {
  ModelPool& pool = make_pool({"a", "b"}, PoolPolicy{kNeverIdle, 0});
  run(pool.start());
  EXPECT_EQ(control_->total_loads(), 0);
  EXPECT_EQ(state_of("a"), ModelState::unloaded);
  EXPECT_TRUE(pool.healthy()) << "unloaded is healthy when models load on demand";
  run([&]() -> asio::awaitable<void> {
    ModelLease lease = co_await pool.acquire("a");
    EXPECT_EQ(lease.name(), "a");
    EXPECT_EQ(lease.model().model_type(), "stub");
    EXPECT_EQ(status_of("a").in_flight, 1u);
    EXPECT_EQ(state_of("b"), ModelState::unloaded);
    lease = ModelLease();
    EXPECT_EQ(status_of("a").in_flight, 0u);
    co_await pool.close_all();
  }());
  EXPECT_EQ(control_->loads["a"], 1);
  EXPECT_EQ(control_->loads["b"], 0);
}

TEST_F(ModelPoolTest, LazyFailedLoadThrowsItsErrorAndTheNextAcquireLoadsAgain) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kNeverIdle, 0});
  control_->failing.insert("a");
  EXPECT_EQ(run(acquire_error("a")), errc::invalid_model);
  EXPECT_EQ(state_of("a"), ModelState::failed);
  EXPECT_FALSE(pool.healthy());
  control_->failing.clear();
  run([&]() -> asio::awaitable<void> {
    co_await pool.acquire("a");
    EXPECT_EQ(state_of("a"), ModelState::loaded);
    co_await pool.close_all();  // ends the idle timer the released lease armed
  }());
  EXPECT_EQ(control_->loads["a"], 2);
}

TEST_F(ModelPoolTest, ConcurrentAcquiresShareOneLoad) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kNeverIdle, 0});
  control_->close_gate(io_);
  std::vector<ModelLease> leases;
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(io_, pool.acquire("a"), [&](std::exception_ptr e, ModelLease lease) {
        EXPECT_FALSE(e);
        leases.push_back(std::move(lease));
      });
    }
    co_await yield();  // every acquire is waiting now
    EXPECT_EQ(state_of("a"), ModelState::loading);
    EXPECT_TRUE(leases.empty());
    control_->open_gate();
  }());
  ASSERT_EQ(leases.size(), 3u);
  EXPECT_EQ(control_->loads["a"], 1);
  EXPECT_EQ(&leases[0].model(), &leases[2].model());
  EXPECT_EQ(status_of("a").in_flight, 3u);
  leases.clear();
  run(pool.close_all());
}

TEST_F(ModelPoolTest, CancelledAcquireLeavesTheLoadRunningForTheOthers) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kNeverIdle, 0});
  control_->close_gate(io_);
  run([&]() -> asio::awaitable<void> {
    // The acquire loses the race to a yield, which cancels it while the load waits at the gate.
    auto first = co_await (pool.acquire("a") || yield());
    EXPECT_EQ(first.index(), 1u);
    EXPECT_EQ(state_of("a"), ModelState::loading);
    EXPECT_EQ(status_of("a").in_flight, 0u);
    control_->open_gate();
    ModelLease lease = co_await pool.acquire("a");
    EXPECT_EQ(status_of("a").in_flight, 1u);
    co_await pool.close_all();
  }());
  EXPECT_EQ(control_->loads["a"], 1);
}

TEST_F(ModelPoolTest, IdleModelIsUnloadedWhenItsIdleTimeEndsAndReloadedOnDemand) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kIdleAtOnce, 0});
  // run() returns once the idle timer has fired and the close it started is over.
  run([&]() -> asio::awaitable<void> { co_await pool.acquire("a"); }());
  EXPECT_EQ(state_of("a"), ModelState::unloaded);
  EXPECT_EQ(control_->closes["a"], 1);
  EXPECT_TRUE(pool.healthy());

  run([&]() -> asio::awaitable<void> { co_await pool.acquire("a"); }());
  EXPECT_EQ(control_->loads["a"], 2);
  EXPECT_EQ(control_->closes["a"], 2);
}

TEST_F(ModelPoolTest, ALeaseTakenBeforeTheIdleTimerFiresKeepsTheModelLoaded) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kIdleAtOnce, 0});
  ModelLease kept = run([&]() -> asio::awaitable<ModelLease> {
    co_await pool.acquire("a");            // released at once: the idle timer is armed
    co_return co_await pool.acquire("a");  // before it fires
  }());
  EXPECT_EQ(state_of("a"), ModelState::loaded);  // the expiry ran and did nothing
  EXPECT_EQ(control_->closes["a"], 0);
  kept = ModelLease();
  run([&]() -> asio::awaitable<void> { co_await yield(); }());
  EXPECT_EQ(state_of("a"), ModelState::unloaded);
  EXPECT_EQ(control_->closes["a"], 1);
  EXPECT_EQ(control_->loads["a"], 1);
}

TEST_F(ModelPoolTest, MaxLoadedEvictsTheLeastRecentlyUsedIdleModel) {
  ModelPool& pool = make_pool({"a", "b", "c"}, PoolPolicy{kNeverIdle, 2});
  run([&]() -> asio::awaitable<void> {
    co_await pool.acquire("a");
    co_await pool.acquire("b");
    co_await pool.acquire("a");  // now b is the least recently used
    ModelLease c = co_await pool.acquire("c");
    EXPECT_EQ(control_->closes["b"], 1);
    EXPECT_EQ(control_->closes["a"], 0);
    EXPECT_EQ(state_of("a"), ModelState::loaded);
    EXPECT_EQ(state_of("b"), ModelState::unloaded);
    EXPECT_EQ(state_of("c"), ModelState::loaded);
    co_await pool.close_all();
  }());
}

TEST_F(ModelPoolTest, MaxLoadedRefusesWithOverloadedWhileEveryResidentModelServes) {
  ModelPool& pool = make_pool({"a", "b"}, PoolPolicy{kNeverIdle, 1});
  run([&]() -> asio::awaitable<void> {
    ModelLease a = co_await pool.acquire("a");
    try {
      co_await pool.acquire("b");
      ADD_FAILURE() << "acquired b while a serves";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::overloaded)) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("all 1 loaded models are serving requests; try again"));
    }
    EXPECT_EQ(state_of("b"), ModelState::unloaded) << "a refusal is not a failed load";
    EXPECT_EQ(control_->loads["b"], 0);
    a = ModelLease();
    co_await pool.acquire("b");
    EXPECT_EQ(control_->closes["a"], 1);
    EXPECT_EQ(state_of("a"), ModelState::unloaded);
    co_await pool.close_all();
  }());
}

TEST_F(ModelPoolTest, AModelThatGaveUpIsReportedFailedAndReloadedByTheNextAcquire) {
  ModelPool& pool = make_pool({"a"});
  run(pool.start());
  control_->reports["a"]->restarts = 3;
  control_->reports["a"]->gave_up = true;
  const ModelStatus gave_up = status_of("a");
  EXPECT_EQ(gave_up.state, ModelState::failed);
  EXPECT_EQ(gave_up.restarts_total, 3u);
  EXPECT_FALSE(gave_up.error.empty());
  EXPECT_FALSE(pool.healthy());

  run([&]() -> asio::awaitable<void> { co_await pool.acquire("a"); }());
  EXPECT_EQ(control_->loads["a"], 2);
  EXPECT_EQ(control_->closes["a"], 1);
  control_->reports["a"]->restarts = 1;  // the new model's own restarts add to the old ones
  const ModelStatus reloaded = status_of("a");
  EXPECT_EQ(reloaded.state, ModelState::loaded);
  EXPECT_EQ(reloaded.restarts_total, 4u);
  EXPECT_TRUE(pool.healthy());
  run(pool.close_all());
}

TEST_F(ModelPoolTest, AReplacementThatGivesUpAtOnceIsLeasedInsteadOfReloadedAgain) {
  ModelPool& pool = make_pool({"a"});
  control_->models_give_up = true;
  run(pool.start());
  EXPECT_EQ(state_of("a"), ModelState::failed);
  run([&]() -> asio::awaitable<void> {
    ModelLease lease = co_await pool.acquire("a");
    EXPECT_EQ(lease.name(), "a");
    co_await pool.close_all();
  }());
  EXPECT_EQ(control_->loads["a"], 2) << "one replacement per acquire";
}

TEST_F(ModelPoolTest, CloseAllClosesEveryModelAndLaterAcquiresFailClosed) {
  ModelPool& pool = make_pool({"a", "b"});
  run(pool.start());
  run(pool.close_all());
  EXPECT_EQ(control_->closes["a"], 1);
  EXPECT_EQ(control_->closes["b"], 1);
  EXPECT_EQ(state_of("a"), ModelState::unloaded);
  EXPECT_EQ(run(acquire_error("a")), errc::closed);
  EXPECT_EQ(control_->total_loads(), 2);
}

TEST_F(ModelPoolTest, CloseAllEndsALoadInProgressAndItsWaitersFailClosed) {
  ModelPool& pool = make_pool({"a"}, PoolPolicy{kNeverIdle, 0});
  control_->close_gate(io_);
  errc waiter = errc::internal_error;
  run([&]() -> asio::awaitable<void> {
    asio::co_spawn(io_, acquire_error("a"), [&](std::exception_ptr, errc code) { waiter = code; });
    co_await yield();
    EXPECT_EQ(state_of("a"), ModelState::loading);
    co_await pool.close_all();
    EXPECT_NE(state_of("a"), ModelState::loading);
  }());
  EXPECT_EQ(waiter, errc::closed);
  EXPECT_EQ(control_->closes["a"], 0) << "no model was made";
}

TEST_F(ModelPoolTest, ALeaseOutlivingCloseAllAndThePoolIsSafe) {
  ModelPool& pool = make_pool({"a"});
  run(pool.start());
  ModelLease lease = run(pool.acquire("a"));
  run(pool.close_all());
  EXPECT_EQ(status_of("a").in_flight, 1u);
  const errc stream_error = run([&]() -> asio::awaitable<errc> {
    TokenStream stream = lease.model().generate("hello", GenerateConfig());
    try {
      while (co_await stream.next()) {
      }
    } catch (...) {
      co_return caught_code(std::current_exception());
    }
    co_return errc::internal_error;
  }());
  EXPECT_EQ(stream_error, errc::closed);
  pool_.reset();
  EXPECT_EQ(lease.name(), "a");
  lease = ModelLease();  // releases into a pool that is gone
  run([&]() -> asio::awaitable<void> { co_await yield(); }());
}

TEST_F(ModelPoolTest, UnknownModelIsModelNotFound) {
  ModelPool& pool = make_pool({"a"});
  EXPECT_TRUE(pool.serves("a"));
  EXPECT_FALSE(pool.serves("b"));
  EXPECT_EQ(pool.names(), std::vector<std::string>{"a"});
  EXPECT_EQ(run(acquire_error("b")), errc::model_not_found);
}

}  // namespace
}  // namespace inference::gateway
