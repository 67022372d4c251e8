#include "request_plan.hpp"

#include <random>

namespace inference::soak {

namespace {

// std:: distributions differ between standard libraries; these draws do not, so a seed means
// the same plan everywhere.
class Draw {
 public:
  explicit Draw(uint64_t seed) : engine_(seed) {}
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1), 53 bits
  uint32_t below(uint32_t bound) { return static_cast<uint32_t>(unit() * bound); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace

std::string_view to_string(Fate fate) noexcept {
  switch (fate) {
    case Fate::normal:
      return "normal";
    case Fate::cancel_queued:
      return "cancel_queued";
    case Fate::drop_queued:
      return "drop_queued";
    case Fate::cancel_streaming:
      return "cancel_streaming";
    case Fate::drop_streaming:
      return "drop_streaming";
    case Fate::deadline_queued:
      return "deadline_queued";
    case Fate::deadline_running:
      return "deadline_running";
  }
  return "?";
}

std::vector<PlannedRequest> make_plan(const PlanSettings& settings) {
  Draw draw(settings.seed);
  std::vector<PlannedRequest> plan(settings.requests);
  for (auto& request : plan) {
    const double u = draw.unit();
    if (u < settings.cancel_fraction) {
      constexpr Fate kCancelFates[] = {Fate::cancel_queued, Fate::drop_queued, Fate::cancel_streaming,
                                       Fate::drop_streaming};
      request.fate = kCancelFates[draw.below(4)];
    } else if (u < settings.cancel_fraction + settings.deadline_fraction) {
      request.fate = draw.below(2) == 0 ? Fate::deadline_queued : Fate::deadline_running;
    }
    request.prompt = draw.below(settings.prompts);
    const uint32_t cancel_range = settings.max_tokens > 1 ? static_cast<uint32_t>(settings.max_tokens - 1) : 1;
    request.cancel_after = 1 + static_cast<int32_t>(draw.below(cancel_range));
    request.deadline_draw = draw.unit();
  }
  return plan;
}

std::vector<uint32_t> kill_points(uint32_t requests, uint32_t kills) {
  std::vector<uint32_t> points;
  for (uint32_t i = 1; i <= kills; ++i) {
    points.push_back(static_cast<uint32_t>(uint64_t{requests} * i / (kills + 1)));
  }
  return points;
}

}  // namespace inference::soak
