// Tests for include/inference/gateway/model_pool.hpp
