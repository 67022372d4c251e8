// Tests for include/inference/gateway/model_catalog.hpp
