/* Loops ITERATIONS times: increments a counter kept in guest memory and
 * writes it to TEST_PORT (32 bit), so a harness sees 1, 2, 3, ... A guest
 * stopped mid-loop and resumed from a snapshot must continue the sequence
 * exactly. Every 500 iterations it prints "tick N"; at the end it prints
 * "counter done N" and reboots. */
#include "common.inc"
.set ITERATIONS, 3000
.set COUNTER_ADDR, 0x300000
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
    xor %edx, %edx
    mov $500, %rcx
    div %rcx
    test %rdx, %rdx
    jnz 1f
    lea tick(%rip), %rsi
    call puts
    mov COUNTER_ADDR, %rax
    call putdec
    lea nl(%rip), %rsi
    call puts
1:  cmpq $ITERATIONS, COUNTER_ADDR
    jb loop
    lea done(%rip), %rsi
    call puts
    mov COUNTER_ADDR, %rax
    call putdec
    lea nl(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
tick: .asciz "tick "
done: .asciz "counter done "
nl:   .asciz "\n"
