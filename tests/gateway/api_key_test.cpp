// Tests for include/inference/gateway/api_key.hpp
