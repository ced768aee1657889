/* Prints a line over the UART and reboots through the i8042. */
#include "common.inc"
.code64
.globl _start
_start:
    lea msg(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
msg: .asciz "Hello from a bare-metal amber guest\n"
