// certs.hpp -- certificates for TLS tests, made once per test process with
// the openssl command (EC P-256 keys, valid for 30 days): a CA, a server
// certificate it signed for 127.0.0.1, ::1 and localhost, a second one (another
// serial, for reloads), a client certificate it signed, and a stranger's CA
// and client certificate that okq's CA never signed.
#pragma once

#include <string>

namespace okq::test {

struct Certs {
  std::string dir;
  std::string ca;                           // okq's test CA (PEM)
  std::string server_cert, server_key;      // serial 1001
  std::string server2_cert, server2_key;    // serial 2002, for reloads
  std::string client_cert, client_key;      // CN okq-test-client, signed by ca
  std::string stranger_ca;                  // another CA
  std::string stranger_cert, stranger_key;  // CN okq-stranger, signed by stranger_ca
};

// Made on first use; a test fails (throws) if openssl cannot make them.
const Certs& certs();

}  // namespace okq::test
