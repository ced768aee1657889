#include "api/api_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "api/json.h"

namespace amber::api {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char d[] = "/tmp/amber-api-XXXXXX";
    path = mkdtemp(d);
  }
  ~TempDir() { (void)!system(("rm -rf " + path).c_str()); }
};

int connect_to(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void send_str(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += size_t(n);
  }
}

std::string read_line(int fd) {
  std::string s;
  char c;
  while (recv(fd, &c, 1, 0) == 1) {
    if (c == '\n') return s;
    s += c;
  }
  return s + "<EOF>";
}

// Answers like the Machine binding would, without a VM: "status" echoes a
// counter; "save" to a path named "slow" takes a while; "stop" never answers.
struct FakeVm {
  std::atomic<int> calls{0};
  ApiServer::Submit submit() {
    return [this](const Request& r) {
      ++calls;
      if (r.cmd == Cmd::kStop) return std::promise<std::string>().get_future();  // broken promise
      if (r.cmd == Cmd::kSave && r.path == "slow")
        return std::async(std::launch::async, [] {
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          return std::string(R"({"ok":true,"slow":true})");
        });
      std::promise<std::string> p;
      p.set_value(JsonWriter().boolean("ok", true).str("cmd", cmd_name(r.cmd)).done());
      return p.get_future();
    };
  }
};

TEST(ApiServer, SocketIsPrivateAndAnswersEachLine) {
  TempDir d;
  std::string path = d.path + "/vm.sock";
  FakeVm vm;
  ApiServer srv(path, vm.submit());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  send_str(fd, "{\"cmd\":\"status\"}\n{\"cmd\":\"pause\"}\r\n\n{\"cmd\":\"resume\"}\n");
  EXPECT_EQ(read_line(fd), R"({"ok":true,"cmd":"status"})");
  EXPECT_EQ(read_line(fd), R"({"ok":true,"cmd":"pause"})");
  EXPECT_EQ(read_line(fd), R"({"ok":true,"cmd":"resume"})");
  close(fd);
  srv.stop();
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the socket file was not removed";
}

TEST(ApiServer, BadRequestsGetAnErrorAndTheConnectionGoesOn) {
  TempDir d;
  FakeVm vm;
  ApiServer srv(d.path + "/s", vm.submit());
  int fd = connect_to(d.path + "/s");
  for (std::string bad : std::vector<std::string>{"hello", "{\"cmd\":\"fly\"}", "[1,2]", "{\"cmd\":\"save\"}", std::string("\xff\xfe{", 3)}) {
    send_str(fd, bad + "\n");
    auto o = parse_json_object(read_line(fd));
    EXPECT_EQ(std::get<bool>(*o.find("ok")), false) << bad;
    EXPECT_NE(o.find("error"), nullptr);
  }
  // An oversized line: one error, the rest of the line skipped, then normal service.
  send_str(fd, std::string(ApiServer::kMaxLine + 10, 'x'));
  send_str(fd, std::string(100000, 'y') + "\n{\"cmd\":\"status\"}\n");
  EXPECT_NE(read_line(fd).find("longer than 65536"), std::string::npos);
  EXPECT_EQ(read_line(fd), R"({"ok":true,"cmd":"status"})");
  close(fd);
  EXPECT_EQ(vm.calls, 1);  // only valid requests reach the VM
}

TEST(ApiServer, ManyClientsAtOnceAndAClientThatVanishesMidLine) {
  TempDir d;
  FakeVm vm;
  std::string path = d.path + "/s";
  ApiServer srv(path, vm.submit());
  int half = connect_to(path);
  send_str(half, "{\"cmd\":\"sta");
  close(half);
  int slow = connect_to(path);
  send_str(slow, "{\"cmd\":\"save\",\"path\":\"slow\"}\n");  // served while the others run
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      int fd = connect_to(path);
      for (int i = 0; i < 20; ++i) {
        send_str(fd, "{\"cmd\":\"status\"}\n");
        if (read_line(fd) == R"({"ok":true,"cmd":"status"})") ++good;
      }
      close(fd);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(good, 160);
  EXPECT_EQ(read_line(slow), R"({"ok":true,"slow":true})");
  close(slow);
  for (int i = 0; i < 3; ++i) {  // sequential clients
    int fd = connect_to(path);
    send_str(fd, "{\"cmd\":\"status\"}\n");
    EXPECT_EQ(read_line(fd), R"({"ok":true,"cmd":"status"})");
    close(fd);
  }
}

TEST(ApiServer, AnUnansweredRequestGetsAnErrorWhenTheVmEnds) {
  TempDir d;
  FakeVm vm;
  ApiServer srv(d.path + "/s", vm.submit());
  int fd = connect_to(d.path + "/s");
  send_str(fd, "{\"cmd\":\"stop\"}\n");
  auto o = parse_json_object(read_line(fd));  // the fake breaks its promise
  EXPECT_EQ(std::get<bool>(*o.find("ok")), false);
  close(fd);
}

TEST(ApiServer, RefusesExistingFilesAndLiveSocketsButReplacesStaleOnes) {
  TempDir d;
  FakeVm vm;
  std::string file = d.path + "/file";
  std::ofstream(file) << "keep me";
  EXPECT_THROW(ApiServer(file, vm.submit()), Error);
  std::ifstream in(file);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");

  std::string path = d.path + "/s";
  {
    ApiServer live(path, vm.submit());
    EXPECT_THROW(ApiServer(path, vm.submit()), Error);
  }
  // A stale socket: bound by a process that went away without removing it.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  close(fd);
  ApiServer again(path, vm.submit());
  int c = connect_to(path);
  send_str(c, "{\"cmd\":\"status\"}\n");
  EXPECT_EQ(read_line(c), R"({"ok":true,"cmd":"status"})");
  close(c);
  EXPECT_THROW(ApiServer(d.path + "/" + std::string(200, 'x'), vm.submit()), Error);
}

}  // namespace
}  // namespace amber::api
