#include "testing/https_test_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/beast/http.hpp>

namespace ds::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;

}  // namespace

HttpsTestClient::HttpsTestClient(uint16_t port, std::shared_ptr<ssl::context> ctx)
    : ctx_(std::move(ctx)), stream_(ioc_, *ctx_) {
  stream_.next_layer().connect({net::ip::make_address("127.0.0.1"), port}, handshake_error_);
  SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
  if (!handshake_error_) stream_.handshake(ssl::stream_base::client, handshake_error_);
}

std::pair<int, std::string> HttpsTestClient::Get(const std::string& target) {
  http::request<http::string_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "localhost");
  boost::system::error_code ec;
  http::write(stream_, req, ec);
  if (ec) return {0, ec.message()};
  http::response<http::string_body> res;
  http::read(stream_, buffer_, res, ec);
  if (ec) return {0, ec.message()};
  return {res.result_int(), res.body()};
}

std::string HttpsTestClient::PeerName() {
  X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
  if (cert == nullptr) return "";
  char name[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name));
  X509_free(cert);
  return name;
}

}  // namespace ds::testing
