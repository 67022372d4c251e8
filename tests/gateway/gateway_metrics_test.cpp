// Tests for include/inference/gateway/gateway_metrics.hpp
