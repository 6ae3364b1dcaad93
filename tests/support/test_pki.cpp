#include "support/test_pki.hpp"

#include <fstream>
#include <stdexcept>

#include "support/process.hpp"
#include "support/services.hpp"

namespace iotd::test {

void TestPki::openssl(const std::vector<std::string>& args) const {
  const auto program = find_program("openssl");
  if (!program) throw std::runtime_error("openssl is not installed");
  std::vector<std::string> argv{program->string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto log = dir_ / "openssl.log";
  const int status = run_process(argv, ProcessOptions{.env = {}, .cwd = dir_.path(), .log_file = log},
                                 std::chrono::seconds(30));
  if (Process::exit_code(status) != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    throw std::runtime_error("openssl " + args.front() + " failed: " + text);
  }
}

TestPki::TestPki() {
  // P-256 keys: quick to make, accepted by every client here.
  const std::vector<std::string> ec{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
  auto req = [&](const std::string& key, const std::vector<std::string>& rest) {
    std::vector<std::string> a{"req"};
    a.insert(a.end(), ec.begin(), ec.end());
    a.insert(a.end(), {"-keyout", key});
    a.insert(a.end(), rest.begin(), rest.end());
    openssl(a);
  };
  req("ca.key", {"-x509", "-days", "2", "-subj", "/CN=iotd test CA", "-out", "ca.pem"});
  req("other-ca.key", {"-x509", "-days", "2", "-subj", "/CN=another CA", "-out", "other-ca.pem"});
  req("server.key", {"-subj", "/CN=localhost", "-out", "server.csr"});
  req("client.key", {"-subj", "/CN=iotd-client", "-out", "client.csr"});
  std::ofstream(dir_ / "server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                        "extendedKeyUsage=serverAuth\n";
  std::ofstream(dir_ / "client.ext") << "extendedKeyUsage=clientAuth\n";
  auto sign = [&](const std::string& csr, const std::string& ext, const std::string& days,
                  const std::string& out) {
    openssl({"x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-extfile", ext, "-days", days, "-out", out});
  };
  sign("server.csr", "server.ext", "2", "server.pem");
  sign("server.csr", "server.ext", "-1", "server-expired.pem");  // not after: yesterday
  sign("client.csr", "client.ext", "2", "client.pem");
}

}  // namespace iotd::test
