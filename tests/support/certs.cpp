// certs.cpp -- test certificates from the openssl command.
#include "certs.hpp"

#include <cstdlib>
#include <stdexcept>

#include "okq.hpp"

namespace okq::test {
namespace {

void sh(const std::string& command) {
  if (std::system(command.c_str()) != 0)
    throw std::runtime_error("cannot make test certificates: " + command);
}

// A key and a certificate for `subject`, signed by `ca` (self-signed if "").
void issue(const std::string& dir, const std::string& name, const std::string& subject,
           const std::string& ca, const std::string& serial, const std::string& ext) {
  const std::string p = dir + "/" + name;
  sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '" + subject +
     "' -keyout " + p + ".key -out " + p + ".csr 2>/dev/null");
  write_file(p + ".ext", ext);
  const std::string signer =
      ca.empty() ? "-signkey " + p + ".key"
                 : "-CA " + dir + "/" + ca + ".pem -CAkey " + dir + "/" + ca + ".key";
  sh("openssl x509 -req -days 30 -in " + p + ".csr " + signer + " -set_serial " + serial +
     " -extfile " + p + ".ext -out " + p + ".pem 2>/dev/null");
}

Certs make() {
  Certs c;
  c.dir = private_dir("certs");
  const std::string ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n";
  const std::string server_ext =
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
  const std::string client_ext = "extendedKeyUsage=clientAuth\n";
  issue(c.dir, "ca", "/CN=okq test CA", "", "1", ca_ext);
  issue(c.dir, "server", "/CN=localhost", "ca", "0x1001", server_ext);
  issue(c.dir, "server2", "/CN=localhost", "ca", "0x2002", server_ext);
  issue(c.dir, "client", "/CN=okq-test-client", "ca", "0x3003", client_ext);
  issue(c.dir, "stranger_ca", "/CN=okq stranger CA", "", "1", ca_ext);
  issue(c.dir, "stranger", "/CN=okq-stranger", "stranger_ca", "0x4004", client_ext);
  const auto pem = [&](const std::string& n) { return c.dir + "/" + n + ".pem"; };
  const auto key = [&](const std::string& n) { return c.dir + "/" + n + ".key"; };
  c.ca = pem("ca");
  c.server_cert = pem("server");
  c.server_key = key("server");
  c.server2_cert = pem("server2");
  c.server2_key = key("server2");
  c.client_cert = pem("client");
  c.client_key = key("client");
  c.stranger_ca = pem("stranger_ca");
  c.stranger_cert = pem("stranger");
  c.stranger_key = key("stranger");
  return c;
}

}  // namespace

const Certs& certs() {
  static const Certs c = make();
  return c;
}

}  // namespace okq::test
