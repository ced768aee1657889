/* Writes 32 MiB of non-zero data (a 64-bit pattern, 16 MiB .. 48 MiB), then
 * asks for its save through amber's control port (a 32-bit "SAVE" to 0x5a0)
 * and reboots through the i8042. Its save therefore writes ~32 MiB of guest
 * data: tools/bench/native.sh times that save's pause. A resumed image just
 * reboots. Where first touches of guest pages are slow (PVM), the fill
 * takes tens of seconds. */
#include "common.inc"
.set FILL_START, 0x1000000      /* 16 MiB */
.set FILL_QWORDS, 0x400000      /* 32 MiB / 8 */
.code64
.globl _start
_start:
    mov $FILL_START, %rdi
    mov $FILL_QWORDS, %rcx
    mov $0xa5a55a5a0f0ff0f0, %rax
    cld
    rep stosq
    mov $SAVE_REQUEST, %eax
    mov $AMBER_CTL, %dx
    out %eax, %dx
    REBOOT
