// Implemented by the models helper: see include/inference/gateway/gateway_metrics.hpp
