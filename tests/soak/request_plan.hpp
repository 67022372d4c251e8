// The soak's request plan: what happens to each of N requests, drawn from one seed so that a
// run can be repeated exactly (the plan, not the timing: which request meets a server kill
// depends on the machine).
//
// Ownership: plain values. Thread-safety: a built plan is immutable and may be read from any
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inference::soak {

enum class Fate {
  normal,            // read to the end
  cancel_queued,     // cancel() right after generate(), while the queue is full of others
  drop_queued,       // the stream destroyed right after generate()
  cancel_streaming,  // cancel() after cancel_after tokens
  drop_streaming,    // the stream destroyed after cancel_after tokens
  deadline_queued,   // a deadline far shorter than the queue wait
  deadline_running,  // a deadline just past the expected queue wait, inside a long generation
};
inline constexpr int kFateCount = 7;

std::string_view to_string(Fate fate) noexcept;

struct PlanSettings {
  uint32_t requests = 0;
  uint64_t seed = 0;
  double cancel_fraction = 0.0;    // split evenly over the four cancel fates
  double deadline_fraction = 0.0;  // split evenly over the two deadline fates
  int32_t max_tokens = 0;          // normal and cancelled requests
  uint32_t prompts = 1;            // how many prompts to choose from
};

struct PlannedRequest {
  Fate fate = Fate::normal;
  uint32_t prompt = 0;       // index into the prompt list
  int32_t cancel_after = 0;  // tokens read before cancelling (streaming fates), in [1, max_tokens)
  double deadline_draw = 0;  // in [0, 1): where in its window a deadline falls (deadline fates)
};

// The whole plan; the same settings always give the same plan.
std::vector<PlannedRequest> make_plan(const PlanSettings& settings);

// Request indices at which the server is killed: `kills` points evenly spaced over the run.
std::vector<uint32_t> kill_points(uint32_t requests, uint32_t kills);

}  // namespace inference::soak
