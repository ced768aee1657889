/* A guest of an image saved before amber's control port left 0x510: it
 * rings 0x510 twice (writing 1 and 2 to TEST_PORT after each), then ends
 * amber through --debug-exit with 1 (exit status 3). Resumed from the first
 * save, its second ring must save again. */
#include "common.inc"
.code64
.globl _start
_start:
    RING_SAVE AMBER_CTL_LEGACY
    mov $1, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    RING_SAVE AMBER_CTL_LEGACY
    mov $2, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    DEBUG_EXIT_WITH 1
