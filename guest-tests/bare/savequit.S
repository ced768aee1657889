/* Asks for its own save at once (a 32-bit "SAVE" to amber's control port
 * 0x5a0, docs/api.md), then reboots through the i8042. Run with --save IMG,
 * amber saves and exits; `amber resume IMG` continues right after the OUT
 * and the reboot ends the process. So a resume of its image measures
 * amber's start to the first KVM_RUN plus one exit, at any --mem: the guest
 * touches no RAM beyond its code and stack (tools/bench/native.sh). */
#include "common.inc"
.code64
.globl _start
_start:
    mov $SAVE_REQUEST, %eax
    mov $AMBER_CTL, %dx
    out %eax, %dx
    REBOOT
