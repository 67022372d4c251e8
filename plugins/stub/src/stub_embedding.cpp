// StubModel::embed() and the vectors it returns (stub_embedding.hpp).
#include "stub_embedding.hpp"

#include <cmath>

#include "inference/error.hpp"
#include "stub_model.hpp"
#include "stub_vocabulary.hpp"

namespace inference::stub {

namespace asio = boost::asio;

namespace {}  // namespace

std::vector<float> embedding_of(std::string_view text, uint64_t dimension) {
  const uint64_t seed = sequence_seed(text, 0);
  std::vector<float> values(dimension);
  double norm = 0;
  for (uint64_t i = 0; i < dimension; ++i) {
    // A token id of the sequence, centred on zero: any spread of the hash would do.
    const double value = static_cast<double>(token_at(seed, i).id - kFirstWordId) - vocabulary_size() / 2.0 + 0.5;
    values[i] = static_cast<float>(value);
    norm += value * value;
  }
  const double length = std::sqrt(norm);
  for (float& value : values) value = static_cast<float>(value / length);
  return values;
}

asio::awaitable<std::vector<Embedding>> StubModel::embed(std::vector<std::string> inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) throw Error(errc::invalid_argument, "embed() input " + std::to_string(i) + " is empty");
  }
  std::vector<Embedding> embeddings;
  embeddings.reserve(inputs.size());
  for (const std::string& input : inputs) {
    if (closed_.load(std::memory_order_relaxed)) throw Error(errc::closed, "stub model closed");
    // Through the pool like a generation, so queue_limit and the statistics count it.
    const SlotLease lease = co_await pool_.acquire(SlotRequest{});
    embeddings.push_back(Embedding{embedding_of(input, kEmbeddingLength), count_words(input)});
  }
  co_return embeddings;
}

}  // namespace inference::stub
