#include "inference/openai/tls_context.hpp"

#include "inference/error.hpp"

namespace inference::openai {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_tls_context(const std::string& ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  // SSLv2/3, TLS 1.0 and 1.1 are broken or deprecated (RFC 8996).
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      throw Error(errc::backend_unavailable,
                  "openai backend: cannot load the system's trusted certificates: " + ec.message() + " (give ca_file)");
    }
  } else {
    context->load_verify_file(ca_file, ec);
    if (ec) {
      throw Error(errc::invalid_argument, "openai backend option ca_file=" + ca_file +
                                              ": not a readable PEM certificate file (" + ec.message() + ")");
    }
  }
  return context;
}

}  // namespace inference::openai
