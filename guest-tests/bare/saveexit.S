/* Asks for a save through amber's control port, then ends amber through
 * --debug-exit with 0x2a (exit status 0x55). Saved with --save and
 * --debug-exit, `amber resume` of its image must end with status 0x55: the
 * image keeps the debug-exit device. */
#include "common.inc"
.code64
.globl _start
_start:
    RING_SAVE
    DEBUG_EXIT_WITH 0x2a
