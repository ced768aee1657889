#pragma once
// A read lease on the image a resumed VM runs from (fcntl(2) F_SETLEASE
// with F_RDLCK). Its RAM is MAP_PRIVATE of the image and its embedded disks
// are read from it, so a write to the file (`cp other.amber vm.amber`,
// `rsync --inplace`, `dd`, a truncation) would change what the guest sees,
// page by page. Under the lease the kernel makes such an open for writing
// or truncate wait (up to /proc/sys/fs/lease-break-time, 45 s by default)
// and sends image_lease_signal() to this process, which stops the VM with
// an error (src/cli); the writer proceeds once amber has exited. Replacing
// the file by rename (what amber's own saves do) leaves the VM's inode
// alone and breaks nothing. Clones of one image share read leases.
#include <string>

namespace amber::vmm {

// SIGRTMIN + 1 (SIGRTMIN is the vCPU kick); block it in every thread and
// read it with a signalfd, like the stop signals.
int image_lease_signal();

// Takes the lease on `fd` (opened read-only) and has the break signalled
// to this process. Returns "" on success, else why not: not the file's
// owner (without CAP_LEASE), a file system without leases, the file open
// for writing somewhere right now.
std::string take_image_lease(int fd);

}  // namespace amber::vmm
