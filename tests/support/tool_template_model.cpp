#include "support/tool_template_model.hpp"

#include <fstream>
#include <iterator>
#include <vector>

#include "inference/error.hpp"
#include "inference/gguf/gguf_reader.hpp"
#include "inference/gguf/gguf_writer.hpp"

namespace inference::test {

const std::string_view kToolChatTemplate = R"({%- if tools -%}
<|im_start|>system
You may call these tools:
{%- for tool in tools %}
- {{ tool.function.name }}: {{ tool.function.description }} {{ tool.function.parameters | tojson }}
{%- endfor %}<|im_end|>
{% endif -%}
{%- for message in messages -%}
<|im_start|>{{ message.role }}
{% if message.tool_calls -%}
{%- for call in message.tool_calls -%}
call {{ call.function.name }} {{ call.function.arguments | tojson }}
{% endfor -%}
{%- endif -%}
{%- if message.role == 'tool' -%}
result of {{ message.tool_call_id }}: {% endif -%}
{{ message.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%})";

namespace {

constexpr std::string_view kChatTemplateKey = "tokenizer.chat_template";

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(errc::invalid_argument, "cannot read " + path.string());
  std::vector<std::byte> bytes(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

}  // namespace

void write_tool_template_model(const std::filesystem::path& source, const std::filesystem::path& destination) {
  const gguf::GgufFile file = gguf::read_gguf(source);
  const std::vector<std::byte> image = read_bytes(source);
  gguf::GgufBuilder builder;
  bool replaced = false;
  for (const auto& [key, value] : file.metadata) {
    if (key == kChatTemplateKey) {
      builder.set(key, std::string(kToolChatTemplate));
      replaced = true;
    } else {
      builder.set(key, value);
    }
  }
  if (!replaced) builder.set(std::string(kChatTemplateKey), std::string(kToolChatTemplate));
  for (const gguf::TensorInfo& tensor : file.tensors) {
    const uint64_t begin = file.data_offset + tensor.offset;
    if (begin + tensor.size_bytes > image.size()) {
      throw Error(errc::invalid_argument, source.string() + ": tensor " + tensor.name + " lies past the end");
    }
    builder.add_tensor(tensor.name, tensor.type, tensor.dims,
                       std::vector<std::byte>(image.begin() + static_cast<std::ptrdiff_t>(begin),
                                              image.begin() + static_cast<std::ptrdiff_t>(begin + tensor.size_bytes)));
  }
  builder.write(destination, gguf::WriteOptions{file.version});
}

}  // namespace inference::test
