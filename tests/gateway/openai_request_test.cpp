// Tests for include/inference/gateway/openai_request.hpp
