/* Fills 32 MiB at 16 MiB with an address-dependent pattern, reads it back,
 * prints "memtest ok" (or "memtest FAIL") and reboots. Checks that guest
 * RAM above the kernel area is really backed and identity-mapped. */
#include "common.inc"
.set START, 0x1000000
.set END,   0x3000000
.set SALT,  0x5a5aa5a5c3c33c3c
.code64
.globl _start
_start:
    mov $START, %rdi
    movabs $SALT, %rbx
fill:
    mov %rdi, %rax
    xor %rbx, %rax
    mov %rax, (%rdi)
    add $8, %rdi
    cmp $END, %rdi
    jb fill
    mov $START, %rdi
check:
    mov %rdi, %rax
    xor %rbx, %rax
    cmp %rax, (%rdi)
    jne bad
    add $8, %rdi
    cmp $END, %rdi
    jb check
    lea ok(%rip), %rsi
    call puts
    REBOOT
bad:
    lea fail(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
ok:   .asciz "memtest ok\n"
fail: .asciz "memtest FAIL\n"
