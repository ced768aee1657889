/* Probes for QEMU's fw_cfg the way firmware written for QEMU does: a 16-bit
 * write of 0 (FW_CFG_SIGNATURE) to the selector at 0x510, then four byte
 * reads of the data port 0x511, where QEMU answers "QEMU". The four bytes go
 * to TEST_PORT; then it ends amber through --debug-exit with
 *   0x10 (status 0x21) when they read all ones (no fw_cfg: amber's answer),
 *   0x20 (status 0x41) when they read "QEMU",
 *   0x30 (status 0x61) for anything else.
 * Under an amber that still had its control port at 0x510 the probe must
 * not save either (a 16-bit write of 0 is no "SAVE"). */
#include "common.inc"
.set FW_CFG_SEL, 0x510
.set FW_CFG_DATA, 0x511
.set QEMU_SIG, 0x554d4551   /* "QEMU", first byte lowest */
.code64
.globl _start
_start:
    xor %eax, %eax
    mov $FW_CFG_SEL, %dx
    out %ax, %dx
    mov $FW_CFG_DATA, %dx
    xor %ebx, %ebx
    mov $4, %ecx
.Lread:
    in %dx, %al
    shl $8, %ebx
    mov %al, %bl
    loop .Lread
    bswap %ebx                /* first byte read -> lowest */
    mov %ebx, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    cmp $0xffffffff, %ebx
    je .Lnone
    cmp $QEMU_SIG, %ebx
    je .Lqemu
    DEBUG_EXIT_WITH 0x30
.Lnone:
    DEBUG_EXIT_WITH 0x10
.Lqemu:
    DEBUG_EXIT_WITH 0x20
