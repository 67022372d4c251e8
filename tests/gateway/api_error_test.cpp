// Tests for include/inference/gateway/api_error.hpp
