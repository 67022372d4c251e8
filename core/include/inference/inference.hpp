// Umbrella header for host applications.
#pragma once

#include "inference/backend.hpp"
#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "inference/token_stream.hpp"
#include "inference/types.hpp"
