// The TLS client settings of one openai model: certificates are always verified (the peer's
// chain against the trusted roots, and its name against the host of base_url; the name check is
// done per connection by RemoteConnection), TLS 1.2 or newer. The trusted roots are the system's
// (OpenSSL's default paths, /etc/ssl/certs on Debian) or, with the ca_file option, that file's
// certificates only: for a server whose certificate a private CA (or the server itself) signed.
//
// Ownership: the returned context is shared by the model's connections (OpenSSL's SSL_CTX is
// reference counted and safe to use from several connections at once once configured).
// Thread-safety: make_tls_context() is safe from any thread. Cancellation: not applicable.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace inference::openai {

// Throws Error(invalid_argument) naming ca_file when the file cannot be read or holds no
// certificate, and Error(backend_unavailable) when the system's trusted roots cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& ca_file);

}  // namespace inference::openai
