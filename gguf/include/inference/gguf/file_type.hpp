// Names for general.file_type (llama.cpp's "ftype": the model's dominant quantisation) and the
// nominal bits per weight derived from it. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace inference::gguf {

// "F32", "F16", "Q4_K_M", "Q8_0", ...; "type_N" for an id this library does not know.
std::string file_type_name(uint32_t file_type);

// Bits per weight of the file type's main tensor type (Q4_K_M -> Q4_K -> 4.5); 0 when unknown.
// Mixed file types (the _M/_L variants) keep some tensors at higher precision, so the real
// average is slightly higher.
double file_type_bits_per_weight(uint32_t file_type);

}  // namespace inference::gguf
