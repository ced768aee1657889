#pragma once
// Help texts for `amber` and its subcommands (kept beside docs/cli.md).
namespace amber::cli {

inline constexpr const char* kMainHelp = R"(amber - a KVM hypervisor whose native artifact is a one-file VM image

Usage: amber COMMAND [OPTIONS]

Commands:
  run       boot a Linux or multiboot kernel (or a bare-metal test guest)
  resume    continue a VM from an image file
  inspect   describe an image file
  verify    check every checksum of an image file
  dump      write an image's guest as an ELF core file for gdb, crash, drgn
  ctl       send a command to a running VM's control socket (--api)
  doctor    which KVM this machine has, and whether Linux guests can run on it
  exec      boot a kernel over the host's files, run one command, exit with its status
  kconfig   print the kernel options amber run and amber exec need
  pool      keep warm VMs ready for 'amber resume --pool'

Options:
  -h, --help     show this help ('amber COMMAND --help' for a command)
  --version      print the version

amber needs a usable /dev/kvm; Linux guests need one backed by VT-x or
AMD-V ('amber doctor' tells). Elsewhere, run it inside the QEMU-TCG sandbox:
tools/kvm-sandbox.sh -- amber ... (docs/sandbox.md).
)";

inline constexpr const char* kRunHelp = R"(Usage: amber run --kernel FILE [OPTIONS]
       amber run --bare FILE [OPTIONS]

Boots a Linux or multiboot kernel directly, like 'qemu -kernel'. The
guest's serial console (ttyS0) is on stdin/stdout; on a terminal, stdin is
in raw mode and Ctrl-A x quits (Ctrl-A Ctrl-A sends Ctrl-A). A guest reboot
ends amber with exit status 0; SIGINT/SIGTERM stop the VM (exit status 130).

Guest:
  --kernel FILE       bzImage (boot protocol >= 2.06), vmlinux ELF with a Xen PVH
                      note, or a multiboot (v1) kernel: ELF32, ELF64 or a header
                      with address fields (told by the header; -v names it)
  --initrd FILE       initial ramdisk; for a multiboot kernel a module, repeatable
  --module FILE[,ARGS]  a multiboot module (repeatable), string "FILE ARGS"
  --cmdline ARGS      multiboot: the kernel's file name, then ARGS (as QEMU);
                      Linux: appended to the default command line
                      "console=ttyS0 reboot=k panic=-1" (plus one
                      virtio_mmio.device=4K@0xd0000000:5 entry per
                      virtio device: the disks, the rng device, then
                      the shares);
                      --verbose prints the final command line
  --bare FILE         a flat bare-metal test guest, entered in 64-bit mode at 1 MiB
  --cpus N            vCPUs, 1..32 (default 1)
  --mem SIZE          guest RAM, e.g. 256M, 2G (default 256M)
  --disk SPEC         a virtio-blk disk (repeatable: vda, vdb, ...):
                      PATH[,ro][,id=NAME][,cow[=OVERLAY]] (docs/disks.md)
  --share SPEC        serve a host directory over virtio-9p (repeatable, up
                      to 8): HOSTDIR[,tag=NAME][,ro]; the guest mounts it
                      with mount -t 9p -o trans=virtio,version=9p2000.L
                      NAME DIR; default tags share0, share1, ...; a VM with
                      a share cannot be saved (docs/shares.md)
  --no-rng            no virtio-rng device (default: one, fed by the host's
                      getrandom, so clones of an image get fresh entropy;
                      docs/entropy.md)
  --debug-exit[=PORT] QEMU's isa-debug-exit at PORT (default 0xf4, 4 ports:
                      QEMU's -device isa-debug-exit,iobase=0xf4,iosize=4): a
                      guest write of V ends amber with exit status
                      (V << 1) | 1; kept in saved images (docs/cli.md)

KVM:
  --force-kvm         boot a Linux --kernel even where 'amber doctor' says this
                      KVM cannot run Linux (e.g. PVM); without it amber refuses
                      at once with the reason (multiboot kernels run anywhere)

Security:
  --seccomp=on|log|off  per-thread system-call allow-lists (default on, or
                      $AMBER_SECCOMP): a forbidden call ends amber with one
                      line naming the thread and the call, exit 159; log:
                      allowed and logged by the kernel (dmesg), for
                      developing devices (docs/security.md)
  --jail DIR          run jailed (root only): new mount, pid, ipc, uts and
                      network namespaces, DIR as "/" (with dev/kvm and proc
                      made there), then as --jail-user, with Landlock where
                      the kernel has it. Every path above is then a path
                      INSIDE DIR: put the files the VM needs there
  --jail-user UID[:GID]  the jail's user and group (numbers; default
                      65534:65534)
  --jail-limit nofile=N,fsize=BYTES,as=BYTES  rlimits in the jail (default
                      nofile=1024; fsize, as: none; core files: off)
  --jail-cgroup PATH  join this cgroup v2 directory (its limits) first

Snapshots:
  --save-on-serial TEXT  when the guest console prints TEXT, save the VM
  --save IMAGE           ... to this image file (written atomically); also
                         where the guest's own save requests go (port 0x5a0
                         or the UART OUT1 doorbell, docs/api.md), so --save
                         alone lets the guest decide when
  --then exit|continue   after the save: exit 0 (default) or keep running
  --compress             compress RAM in the image with zstd

Control:
  --api PATH          serve the JSON control socket at PATH (mode 0600; a
                      stale socket is replaced): status, pause, resume,
                      save, stop, reset; see 'amber ctl --help', docs/api.md

Debugging (docs/debugging.md):
  --gdb PORT|unix:PATH  serve gdb's remote protocol on 127.0.0.1:PORT (0: a
                      free port, printed) or a unix socket: one gdb thread per
                      vCPU, breakpoints, watchpoints, single step, Ctrl-C
  --gdb-wait          keep the vCPUs stopped until gdb continues them

Other:
  --timings           print how long each start-up phase took (stderr)
  -v, --verbose       print the boot details and final command line (stderr)
  -h, --help          show this help
)";

inline constexpr const char* kResumeHelp = R"(Usage: amber resume IMAGE [OPTIONS]

Continues the VM saved in IMAGE exactly where it was. Guest RAM is mapped
lazily from the image (copy-on-write, shared between concurrent resumes);
each embedded disk runs under a private copy-on-write overlay, so the image
is never modified. Console and exit status as with 'amber run'.

  --disk-overlay NAME=PATH  keep disk NAME's private writes in PATH (created
                            if missing; reopened if it matches) instead of a
                            temporary file removed at exit
  --save-on-serial TEXT, --save IMAGE, --then exit|continue, --compress
                            save again, as with 'amber run'
  --api PATH                control socket, as with 'amber run'; its
                            'reset' command returns the VM to IMAGE in place
  --gdb PORT|unix:PATH, --gdb-wait
                            debug the resumed guest with gdb, as with
                            'amber run'
  --timings                 print how long each resume phase took (stderr)
  -v, --verbose             more detail on stderr
  --force-kvm               resume a Linux guest even where 'amber doctor'
                            says this KVM cannot run Linux (e.g. PVM)
  --seccomp=on|log|off      system-call allow-lists, as with 'amber run'
  --jail DIR, --jail-user UID[:GID], --jail-limit ..., --jail-cgroup PATH
                            run jailed, as with 'amber run'; IMAGE, overlays,
                            --save and --api are then paths inside DIR
  --pool SOCKET             resume in a warm VM of 'amber pool SOCKET':
                            its VM was created ahead, so only the image is
                            mapped and the state restored; console, exit
                            status and options as without it (not --jail)
  -h, --help                show this help
)";

inline constexpr const char* kPoolHelp = R"(Usage: amber pool SOCKET [--size N] [--cpus N] [--mem SIZE | --like IMAGE] [--jail DIR ...]

Keeps N processes (default 2) each holding a warm VM: created with its
irqchip, PIT, vCPUs and memory slots over reserved address space, waiting
for an image. 'amber resume IMAGE --pool SOCKET' hands its terminal, working
directory and options to one of them, which maps IMAGE into the prepared
slots, restores state and runs the guest; its console, exit status and
--timings are the resume's. The pool replaces each process it hands out.
An image of another shape still resumes there, in a VM created on demand.
Only the pool's own user (and root) may use the socket. SIGINT or SIGTERM
end the pool; VMs already handed out run on.

  --size N      warm VMs kept ready (1-64, default 2)
  --cpus N      their vCPUs (default 1)
  --mem SIZE    their RAM (default 256M)
  --like IMAGE  take the vCPUs and RAM of IMAGE
  --jail DIR, --jail-user UID[:GID], --jail-limit ..., --jail-cgroup PATH
                every worker jails itself (as 'amber run --jail') before
                it makes its VM; a request's IMAGE, overlays, --save and
                --api are then paths inside DIR
  -h, --help    show this help
)";

inline constexpr const char* kInspectHelp = R"(Usage: amber inspect IMAGE [--json]

Prints the image's format version, writer, creation time, saved command
line, machine (vCPUs, RAM, devices, disks) and every section and extent with
its size, codec and checksum.

  --json      machine-readable output
  -h, --help  show this help
)";

inline constexpr const char* kCtlHelp = R"(Usage: amber ctl SOCKET COMMAND [KEY=VALUE...]

Sends one command to the control socket of a VM started with '--api SOCKET'
and prints the JSON answer. Exit status 0 when the answer says ok, 1 when it
does not (or the socket cannot be reached), 2 for usage errors.

Commands:
  status                     state (running/paused), uptime, vCPUs, memory, disks
  pause | resume             stop / restart the vCPUs
  save path=IMAGE [compress=true] [then=continue|exit]
                             save the VM (default: keep running); answers with
                             the bytes written and how long the VM was paused
  reset                      return a resumed VM to its image, in place
  stop                       end the VM (amber exits 0)

VALUEs 'true' and 'false' are sent as booleans, everything else as a string.
Example: amber ctl /tmp/vm.sock save path=/tmp/x.amber then=continue

  -h, --help  show this help
)";

inline constexpr const char* kVerifyHelp = R"(Usage: amber verify IMAGE

Reads the whole image and checks every checksum (header, metadata, RAM,
disks). Exit status 0 when intact; 1 with the first bad section named.

  -h, --help  show this help
)";

inline constexpr const char* kDumpHelp = R"(Usage: amber dump IMAGE --elf OUT

Writes the guest of IMAGE as an ELF64 core file: one thread (NT_PRSTATUS,
NT_FPREGSET) per vCPU with its saved registers, and one PT_LOAD per RAM region at its
guest-physical address (p_paddr = p_vaddr), so 'gdb -c OUT' reads a
bare-metal guest's memory at its own addresses and crash or drgn read
physical memory. Zero pages are holes (the file is sparse); compressed
images are decompressed. Every RAM byte is checked against the image's
checksums. OUT is replaced atomically: on failure it is left as it was.
docs/debugging.md has examples.

  --elf OUT   the core file to write
  -h, --help  show this help
)";

inline constexpr const char* kDoctorHelp = R"(Usage: amber doctor [--json] [--no-probe] [--device PATH]

Says which KVM this machine has (intel, amd, pvm, or none, with the reason),
the capabilities amber relies on, and whether bare-metal and unmodified
Linux guests can run here. The backend is decided by the vendor module the
kernel has loaded (kvm_intel, kvm_amd, kvm_pvm; CPUID's VMX/SVM flags when
none is visible); a probe guest then checks that a VM really runs.
PVM runs bare-metal guests but not Linux: use the QEMU-TCG sandbox
(tools/kvm-sandbox.sh) or a machine with VT-x/AMD-V for those.

  --json          one JSON object: kvm.backend, linux_guests, bare_metal_guests,
                  reason, advice, capabilities (docs/cli.md)
  --no-probe      do not run the probe guest
  --device PATH   the KVM device (default /dev/kvm)
  -h, --help      show this help

Exit status 0 whenever the report was made, whatever it says.
)";

inline constexpr const char* kExecHelp = R"(Usage: amber exec --kernel FILE [OPTIONS] -- CMD [ARGS...]

Boots FILE (a kernel built with the options of 'amber kconfig') with the
host's / as its root, read-only over 9p under a tmpfs overlay (writes stay in
the guest), runs CMD in the current directory with the console as its
terminal, and exits with CMD's status: its exit code, 128+N when signal N
ended it, 127 when CMD was not found, 126 when it could not be executed,
125 when the guest could not set up (amber-init says why) or ended without
reporting. No initrd is needed: amber writes a tiny one itself. See
docs/exec.md.

  --kernel FILE       bzImage or PVH vmlinux (like 'amber run --kernel')
  --rwdir DIR         make DIR (and what is below it) writable through to
                      the host, at the same path in the guest (repeatable;
                      with --share at most 8 together)
  --share SPEC        an extra 9p share, as with 'amber run' (docs/shares.md)
  --cpus N            vCPUs, 1..32 (default 1)
  --mem SIZE          guest RAM, at least 64M (default 256M)
  --cmdline ARGS      appended to the kernel command line
  --force-kvm         run even where 'amber doctor' says this KVM cannot run
                      Linux (e.g. PVM)
  --seccomp=on|log|off  system-call allow-lists, as with 'amber run'
  --timings           print how long each start-up phase took (stderr)
  -v, --verbose       kernel messages, amber-init's steps and the command line
  -h, --help          show this help

The command sees the variables PATH, HOME, TERM, LANG, USER and LOGNAME of
amber's environment (those that are set) and runs as root in the guest.
)";

inline constexpr const char* kKconfigHelp = R"(Usage: amber kconfig

Prints the kernel options a guest kernel needs for 'amber run' (virtio-mmio
devices from the command line, virtio-blk, virtio-rng, serial console,
initramfs, PVH) and 'amber exec' (9p over virtio, overlayfs, devtmpfs,
tmpfs), as a fragment for the kernel's scripts/kconfig/merge_config.sh:

  amber kconfig > amber.config
  scripts/kconfig/merge_config.sh -m .config amber.config && make olddefconfig

  -h, --help  show this help
)";

}  // namespace amber::cli
