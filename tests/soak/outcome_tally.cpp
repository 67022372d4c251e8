#include "outcome_tally.hpp"

#include <fmt/format.h>

namespace inference::soak {

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::completed:
      return "completed";
    case Outcome::cancelled_queued:
      return "cancelled_queued";
    case Outcome::cancelled_streaming:
      return "cancelled_streaming";
    case Outcome::dropped_queued:
      return "dropped_queued";
    case Outcome::dropped_streaming:
      return "dropped_streaming";
    case Outcome::deadline_before_first_token:
      return "deadline_before_first_token";
    case Outcome::deadline_while_streaming:
      return "deadline_while_streaming";
    case Outcome::deadline_not_reached:
      return "deadline_not_reached";
    case Outcome::finished_before_cancel:
      return "finished_before_cancel";
    case Outcome::failed_at_kill:
      return "failed_at_kill";
    case Outcome::unexpected_error:
      return "unexpected_error";
    case Outcome::untyped_exception:
      return "untyped_exception";
    case Outcome::hung:
      return "hung";
    case Outcome::wrong_result:
      return "wrong_result";
  }
  return "?";
}

bool is_failure(Outcome outcome) noexcept { return outcome >= Outcome::unexpected_error; }

void OutcomeTally::record(uint32_t index, Fate fate, Outcome outcome, std::string_view error, std::string_view detail) {
  std::lock_guard lock(mutex_);
  ++outcomes_[static_cast<std::size_t>(outcome)];
  ++fates_[static_cast<std::size_t>(fate)];
  if (!error.empty()) {
    auto it = errors_.find(error);
    if (it == errors_.end()) it = errors_.emplace(std::string(error), 0).first;
    ++it->second;
  }
  if (is_failure(outcome) && failure_examples_.size() < kFailureExamples) {
    failure_examples_.push_back(fmt::format("request {} ({}): {}{}{}", index, to_string(fate), to_string(outcome),
                                            error.empty() ? "" : " " + std::string(error),
                                            detail.empty() ? "" : ": " + std::string(detail)));
  }
}

uint64_t OutcomeTally::total() const {
  std::lock_guard lock(mutex_);
  uint64_t sum = 0;
  for (auto n : outcomes_) sum += n;
  return sum;
}

uint64_t OutcomeTally::count(Outcome outcome) const {
  std::lock_guard lock(mutex_);
  return outcomes_[static_cast<std::size_t>(outcome)];
}

uint64_t OutcomeTally::failures() const {
  std::lock_guard lock(mutex_);
  uint64_t sum = 0;
  for (int i = 0; i < kOutcomeCount; ++i) {
    if (is_failure(static_cast<Outcome>(i))) sum += outcomes_[static_cast<std::size_t>(i)];
  }
  return sum;
}

std::string OutcomeTally::report() const {
  std::lock_guard lock(mutex_);
  std::string out = "outcomes:\n";
  for (int i = 0; i < kOutcomeCount; ++i) {
    const auto outcome = static_cast<Outcome>(i);
    out += fmt::format("  {:<28} {:>7}{}\n", to_string(outcome), outcomes_[static_cast<std::size_t>(i)],
                       is_failure(outcome) ? "  (failure)" : "");
  }
  out += "planned fates:\n";
  for (int i = 0; i < kFateCount; ++i) {
    out += fmt::format("  {:<28} {:>7}\n", to_string(static_cast<Fate>(i)), fates_[static_cast<std::size_t>(i)]);
  }
  out += "error codes:\n";
  if (errors_.empty()) out += "  (none)\n";
  for (const auto& [name, n] : errors_) out += fmt::format("  {:<28} {:>7}\n", name, n);
  if (!failure_examples_.empty()) {
    out += "first failures:\n";
    for (const auto& line : failure_examples_) out += "  " + line + "\n";
  }
  return out;
}

}  // namespace inference::soak
