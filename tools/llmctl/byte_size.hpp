// Byte counts for people: "512 B", "1.5 KiB", "4.37 GiB".
#pragma once

#include <cstdint>
#include <string>

namespace llmctl {

std::string format_bytes(uint64_t bytes);

}  // namespace llmctl
