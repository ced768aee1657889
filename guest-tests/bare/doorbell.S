/* Like counter: writes 1, 2, 3, ... to TEST_PORT, but asks the VMM for a
 * save itself (docs/api.md): at 1000 through amber's control port (a 32-bit
 * "SAVE" to 0x5a0), at 2000 through the UART doorbell (MCR.OUT1 0 -> 1,
 * then cleared again). At 3000 it prints "doorbell done 3000" and reboots.
 * A VM saved by either request and resumed must continue the sequence
 * exactly, as with a console-triggered save. */
#include "common.inc"
.set ITERATIONS, 3000
.set COUNTER_ADDR, 0x300000
.set COM1_MCR, 0x3fc
.set MCR_OUT1, 0x04
.code64
.globl _start
_start:
    movq $0, COUNTER_ADDR
loop:
    mov COUNTER_ADDR, %rax
    inc %rax
    mov %rax, COUNTER_ADDR
    mov $TEST_PORT, %dx
    out %eax, %dx
    cmp $1000, %rax
    jne 1f
    mov $SAVE_REQUEST, %eax
    mov $AMBER_CTL, %dx
    out %eax, %dx
    jmp 3f
1:  cmp $2000, %rax
    jne 2f
    mov $MCR_OUT1, %al
    mov $COM1_MCR, %dx
    out %al, %dx
    jmp 3f
2:  cmp $2001, %rax
    jne 3f
    xor %eax, %eax
    mov $COM1_MCR, %dx
    out %al, %dx
3:  cmpq $ITERATIONS, COUNTER_ADDR
    jb loop
    lea done(%rip), %rsi
    call puts
    mov COUNTER_ADDR, %rax
    call putdec
    lea nl(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
done: .asciz "doorbell done "
nl:   .asciz "\n"
