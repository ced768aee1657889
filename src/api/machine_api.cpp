#include "api/machine_api.h"

#include <memory>

#include "api/json.h"
#include "snapshot/image.h"

namespace amber::api {

namespace {

std::string status(vmm::Machine& m) {
  const auto& cfg = m.config();
  std::string disks = "[";
  for (size_t i = 0; i < cfg.disks.size(); ++i) {
    if (i) disks += ',';
    disks += JsonWriter().str("name", cfg.disks[i].name).str("id", cfg.disks[i].id).boolean("read_only", cfg.disks[i].read_only).done();
  }
  disks += "]";
  JsonWriter w;
  w.boolean("ok", true)
      .str("state", m.paused() ? "paused" : "running")
      .num("uptime_s", m.uptime_seconds())
      .uint("vcpus", cfg.cpus)
      .uint("memory_bytes", m.memory().total_size())
      .raw("disks", disks);
  if (m.origin()) w.str("image", m.origin()->path());
  return w.done();
}

std::string ok() { return JsonWriter().boolean("ok", true).done(); }

}  // namespace

std::string execute(vmm::Machine& m, const Request& r) {
  try {
    switch (r.cmd) {
      case Cmd::kStatus:
        return status(m);
      case Cmd::kPause:
        if (!m.paused()) m.pause_all();
        return JsonWriter().boolean("ok", true).str("state", "paused").done();
      case Cmd::kResume:
        if (m.paused()) m.resume_all();
        return JsonWriter().boolean("ok", true).str("state", "running").done();
      case Cmd::kStop:
        m.request_stop(vmm::StopReason::kQuit);
        return ok();
      case Cmd::kReset: {
        double ms = m.reset_to_origin();
        return JsonWriter()
            .boolean("ok", true)
            .str("state", m.paused() ? "paused" : "running")
            .num("reset_ms", ms)
            .done();
      }
      case Cmd::kSave: {
        // A failed save throws with the VM back in its run state (running
        // or paused); a saved VM that is to exit stays paused.
        vmm::SaveResult s = m.save_image(r.path, r.compress, /*stay_paused=*/r.then_exit);
        if (r.then_exit) m.request_stop(vmm::StopReason::kSaved);
        return JsonWriter()
            .boolean("ok", true)
            .str("path", s.path)
            .uint("bytes", s.allocated_bytes)
            .uint("ram_data_bytes", s.ram_data_bytes)
            .uint("disk_data_bytes", s.disk_data_bytes)
            .num("pause_ms", s.pause_ms)
            .num("total_ms", s.total_ms)
            .boolean("background", s.background)
            .str("then", r.then_exit ? "exit" : "continue")
            .done();
      }
    }
  } catch (const std::exception& e) {
    return error_answer(e.what());
  }
  return error_answer("unreachable");
}

ApiServer::Submit machine_submitter(vmm::Machine& m) {
  return [&m](const Request& r) {
    auto p = std::make_shared<std::promise<std::string>>();
    auto f = p->get_future();
    m.post_task([&m, r, p] { p->set_value(execute(m, r)); });
    return f;
  };
}

}  // namespace amber::api
