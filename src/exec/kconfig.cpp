#include "exec/kconfig.h"

#include <fmt/core.h>

namespace amber::exec {

namespace {

// Grouped as amber uses them; see docs/exec.md for the why of each group.
constexpr KconfigOption kOptions[] = {
    // CPU and boot
    {"64BIT", "amber sets up long mode only"},
    {"SMP", "--cpus N > 1"},
    {"X86_MPPARSE", "without ACPI, CPUs and the IOAPIC come from amber's MP table"},
    {"HYPERVISOR_GUEST", "gate of the paravirtual options below"},
    {"PARAVIRT", "needed by KVM_GUEST"},
    {"KVM_GUEST", "kvm-clock: sane time after a snapshot is resumed"},
    {"PVH", "boot a vmlinux through its Xen PVH note (--kernel vmlinux)"},
    {"BLK_DEV_INITRD", "--initrd, and amber exec's own initramfs"},
    {"BINFMT_ELF", "run ELF programs"},
    {"BINFMT_SCRIPT", "run #! scripts"},
    // console
    {"PRINTK", "kernel messages on the console"},
    {"TTY", "a console for userspace"},
    {"SERIAL_8250", "amber's 16550 UART at 0x3f8, IRQ 4 (ttyS0)"},
    {"SERIAL_8250_CONSOLE", "console=ttyS0"},
    {"UNIX98_PTYS", "/dev/pts for commands that open terminals"},
    // virtio over MMIO
    {"VIRTIO_MENU", "gate of the virtio drivers"},
    {"VIRTIO", "virtio core"},
    {"VIRTIO_MMIO", "amber's virtio transport (no PCI)"},
    {"VIRTIO_MMIO_CMDLINE_DEVICES", "devices announced as virtio_mmio.device= on the command line"},
    {"BLOCK", "block layer, for virtio-blk"},
    {"BLK_DEV", "block devices, for virtio-blk"},
    {"VIRTIO_BLK", "--disk: /dev/vda, /dev/vdb, ..."},
    {"HW_RANDOM", "hw_random core, for virtio-rng"},
    {"HW_RANDOM_VIRTIO", "amber's virtio-rng: entropy, and fresh entropy in each resumed clone"},
    // host directories (--share, amber exec)
    {"NET", "needed by 9p"},
    {"NET_9P", "9P2000.L"},
    {"NET_9P_VIRTIO", "9p over virtio: --share, and amber exec's root"},
    {"9P_FS", "mount -t 9p"},
    {"OVERLAY_FS", "amber exec: a writable tmpfs layer over the read-only host root"},
    // filesystems amber exec's init mounts
    {"PROC_FS", "amber exec mounts /proc"},
    {"SYSFS", "amber exec mounts /sys"},
    {"TMPFS", "amber exec's overlay upper layer, /tmp and /run"},
    {"SHMEM", "tmpfs backed by memory"},
    {"DEVTMPFS", "amber exec mounts /dev"},
};

}  // namespace

std::span<const KconfigOption> kconfig_options() { return kOptions; }

std::string kconfig_fragment() {
  std::string s =
      "# Kernel options for amber run and amber exec (amber kconfig).\n"
      "# Merge into a kernel's .config:\n"
      "#   amber kconfig > amber.config\n"
      "#   scripts/kconfig/merge_config.sh -m .config amber.config && make olddefconfig\n"
      "# Optional, not listed: X86_IOPL_IOPERM lets amber exec report the exit status\n"
      "# through the debug-exit port; without it the status goes through a 9p share.\n";
  for (auto& o : kOptions) s += fmt::format("\n# {}\nCONFIG_{}=y\n", o.why, o.name);
  return s;
}

}  // namespace amber::exec
