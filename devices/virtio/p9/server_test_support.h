#pragma once
// Fixture of the 9P server tests: a temporary host directory
//   TMP/outside.txt      "outside-secret" (next to the share, never reachable)
//   TMP/share/           the share root
//   TMP/share/hello.txt  "hello 9p"
//   TMP/share/dir/inner.txt "inner"
// served by a Server, with a Client whose session is started (fid 0 = root).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "virtio/p9/server.h"
#include "virtio/p9/test_client.h"
#include "virtio/testing/temp_dir.h"

namespace amber::virtio::p9::testing {

inline std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { make(false); }
  void make(bool read_only) {
    share_ = tmp_.file("share");
    ::mkdir(share_.c_str(), 0755);
    ::mkdir((share_ + "/dir").c_str(), 0755);
    tmp_.write("outside.txt", bytes_of("outside-secret"));
    tmp_.write("share/hello.txt", bytes_of("hello 9p"));
    tmp_.write("share/dir/inner.txt", bytes_of("inner"));
    server_ = Server::open(ShareSpec{share_, "t", read_only});
    client_ = std::make_unique<Client>(*server_);
    client_->start();
  }
  std::string host(const std::string& rel) const { return share_ + "/" + rel; }
  std::string host_text(const std::string& rel) const {
    auto b = block::testing::TempDir::read_all(host(rel));
    return {b.begin(), b.end()};
  }
  bool host_exists(const std::string& rel) const {
    struct stat st {};
    return ::lstat(host(rel).c_str(), &st) == 0;
  }
  Client& c() { return *client_; }

  block::testing::TempDir tmp_;
  std::string share_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace amber::virtio::p9::testing
