// Implemented by the protocol helper: see include/inference/gateway/openai_request.hpp
