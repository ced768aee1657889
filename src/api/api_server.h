#pragma once
// The control socket (docs/api.md): a Unix stream socket, one JSON request
// per line, one JSON answer line per request.
//
// One thread accepts; each client gets its own thread (at most kMaxClients
// at once), so a slow save for one client does not stop another from
// connecting. Requests are validated here; valid ones go to `submit`, which
// hands them to the VM's main loop and returns a future for the answer.
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "amber/unique_fd.h"
#include "api/protocol.h"

namespace amber::api {

class ApiServer {
 public:
  using Submit = std::function<std::future<std::string>(const Request&)>;
  static constexpr size_t kMaxLine = 64 * 1024;
  static constexpr size_t kMaxClients = 16;

  // Creates the socket with mode 0600 and starts serving. Throws Error when
  // `path` exists and is not a stale socket (a live one, or another file).
  ApiServer(std::string path, Submit submit);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Stops accepting, answers requests still waiting with an error, joins
  // every thread and removes the socket. Idempotent.
  void stop();

 private:
  struct Client {
    UniqueFd fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Client& c);
  std::string answer(const std::string& line);
  void reap_done_clients();

  std::string path_;
  Submit submit_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;  // eventfd: readable once stop() was called
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex clients_mu_;
  std::list<Client> clients_;
  ino_t inode_ = 0;  // our socket file, so stop() never removes someone else's
};

}  // namespace amber::api
