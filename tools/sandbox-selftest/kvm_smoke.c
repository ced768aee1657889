/* kvm_smoke.c - minimal /dev/kvm smoke test for tools/kvm-sandbox.sh.
 *
 * Opens /dev/kvm, checks KVM_GET_API_VERSION, creates a VM with 4 KiB of
 * memory at guest-physical 0x1000 and one vCPU in real mode running:
 *
 *     mov  al, 'X'        ; B0 58
 *     mov  dx, 0x3f8      ; BA F8 03
 *     out  dx, al         ; EE          -> KVM_EXIT_IO port 0x3f8, data 'X'
 *     mov  cx, N          ; B9 lo hi
 *  l: out  0x80, al       ; E6 80       -> N x KVM_EXIT_IO port 0x80
 *     loop l              ; E2 FC
 *     hlt                 ; F4          -> KVM_EXIT_HLT
 *
 * and checks that it sees exactly that sequence of exits. The N port-0x80
 * exits are timed to give a rough cost of one PIO exit to userspace.
 *
 * Usage: kvm_smoke [N]   (N = 1..65535 PIO-loop iterations, default 2000)
 * Prints "kvm_smoke: PASS ..." and exits 0 on success, exits 1 on failure.
 * Self-contained on purpose (no project headers): it tests the environment,
 * not amber.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "kvm_smoke: FAIL: " __VA_ARGS__);                      \
        fprintf(stderr, "\n");                                                 \
        exit(1);                                                               \
    } while (0)

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 0) : 2000;
    if (n < 1 || n > 65535)
        FAIL("N must be 1..65535");

    double t0 = now_us();
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        FAIL("open /dev/kvm: %s", strerror(errno));
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        FAIL("KVM_GET_API_VERSION = %d, want %d", api, KVM_API_VERSION);

    int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm < 0)
        FAIL("KVM_CREATE_VM: %s", strerror(errno));

    uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        FAIL("mmap: %s", strerror(errno));
    const uint8_t code[] = {
        0xB0, 'X',              /* mov al, 'X'   */
        0xBA, 0xF8, 0x03,       /* mov dx, 0x3f8 */
        0xEE,                   /* out dx, al    */
        0xB9, (uint8_t)(n & 0xff), (uint8_t)(n >> 8), /* mov cx, n */
        0xE6, 0x80,             /* l: out 0x80, al */
        0xE2, 0xFC,             /* loop l        */
        0xF4,                   /* hlt           */
    };
    memcpy(mem, code, sizeof code);

    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0x1000,
        .memory_size = 0x1000,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        FAIL("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0)
        FAIL("KVM_CREATE_VCPU: %s", strerror(errno));
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        FAIL("KVM_GET_VCPU_MMAP_SIZE: %d", run_size);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
                               MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        FAIL("mmap vcpu: %s", strerror(errno));

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        FAIL("KVM_GET_SREGS: %s", strerror(errno));
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        FAIL("KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        FAIL("KVM_SET_REGS: %s", strerror(errno));
    double t_setup = now_us() - t0;

    /* Exit 1: the 'X' on port 0x3f8. */
    if (ioctl(vcpu, KVM_RUN, 0) < 0)
        FAIL("KVM_RUN: %s", strerror(errno));
    if (run->exit_reason != KVM_EXIT_IO)
        FAIL("exit 1: reason %u, want KVM_EXIT_IO", run->exit_reason);
    if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x3f8 ||
        run->io.size != 1 || run->io.count != 1)
        FAIL("exit 1: io dir %u port %#x size %u count %u", run->io.direction,
             run->io.port, run->io.size, run->io.count);
    char c = *((char *)run + run->io.data_offset);
    if (c != 'X')
        FAIL("exit 1: data %#x, want 'X'", (unsigned char)c);

    /* Exits 2..n+1: the timed port-0x80 loop. */
    double t1 = now_us();
    for (long i = 0; i < n; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            FAIL("KVM_RUN (loop %ld): %s", i, strerror(errno));
        if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80)
            FAIL("loop exit %ld: reason %u port %#x", i, run->exit_reason,
                 run->io.port);
    }
    double t_loop = now_us() - t1;

    /* Last exit: hlt. */
    if (ioctl(vcpu, KVM_RUN, 0) < 0)
        FAIL("KVM_RUN (hlt): %s", strerror(errno));
    if (run->exit_reason != KVM_EXIT_HLT)
        FAIL("last exit: reason %u, want KVM_EXIT_HLT", run->exit_reason);

    printf("kvm_smoke: PASS api=%d, saw IO 'X' on 0x3f8 then HLT; "
           "setup %.0f us; %ld PIO exits in %.1f ms = %.1f us/exit\n",
           api, t_setup, n, t_loop / 1e3, t_loop / n);
    return 0;
}
