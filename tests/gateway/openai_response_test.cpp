// Tests for include/inference/gateway/openai_response.hpp
