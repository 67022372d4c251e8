// Implemented by the models helper: see include/inference/gateway/model_pool.hpp
