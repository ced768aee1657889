/* Asks for a save through amber's control port, then prints "resumed and
 * idle" and halts with interrupts off for good: a resumed VM that stays up
 * doing nothing until amber is stopped from outside (the image-lease test
 * writes to its image). */
#include "common.inc"
.code64
.globl _start
_start:
    RING_SAVE
    lea msg(%rip), %rsi
    call puts
1:  hlt
    jmp 1b

#include "lib.S"
msg: .asciz "resumed and idle\n"
