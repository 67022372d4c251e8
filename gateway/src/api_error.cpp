// Implemented by the protocol helper: see include/inference/gateway/api_error.hpp
