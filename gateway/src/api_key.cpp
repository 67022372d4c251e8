// Implemented by the protocol helper: see include/inference/gateway/api_key.hpp
