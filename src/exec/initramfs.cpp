#include "exec/initramfs.h"

#include "exec/cpio.h"

namespace amber::exec {

std::vector<uint8_t> build_exec_initramfs(const ExecConfig& config) {
  auto conf = serialize_exec_config(config);
  CpioWriter w;
  w.add_dir("dev");
  w.add_char_device("dev/console", 0600, 5, 1);  // Documentation/admin-guide/devices.txt: 5,1 = /dev/console
  w.add_file("init", amber_init_binary, 0755);
  w.add_file(kConfigPath, conf, 0644);
  return w.finish();
}

}  // namespace amber::exec
