/* Fills 32 MiB at 16 MiB with pattern A (address ^ SALT_A), asks for a save
 * through amber's control port, then checks pattern A, rewrites every word
 * with pattern B (address ^ SALT_B), checks B, prints "cowstorm ok" (or
 * "cowstorm FAIL A" / "cowstorm FAIL B") and reboots. Resumed, its first
 * act is to write all 8192 pages that are MAP_PRIVATE of the image: every
 * one a copy-on-write break, the pattern after which clones triple-faulted
 * in the sandbox (docs/testing.md "Known sandbox flakes"). Many concurrent
 * clones of its image test that path on a KVM with no emulator below it. */
#include "common.inc"
.set START, 0x1000000
.set END,   0x3000000
.set SALT_A, 0x5a5aa5a5c3c33c3c
.set SALT_B, 0x0ff0f00f96966969
.code64
.globl _start
_start:
    movabs $SALT_A, %rbx
    call fill
    RING_SAVE
    movabs $SALT_A, %rbx
    call check
    jne bad_a
    movabs $SALT_B, %rbx
    call fill
    call check
    jne bad_b
    lea ok(%rip), %rsi
    call puts
    REBOOT
bad_a:
    lea fail_a(%rip), %rsi
    call puts
    REBOOT
bad_b:
    lea fail_b(%rip), %rsi
    call puts
    REBOOT

/* fill: every word at [START, END) = its address ^ %rbx. */
fill:
    mov $START, %rdi
1:  mov %rdi, %rax
    xor %rbx, %rax
    mov %rax, (%rdi)
    add $8, %rdi
    cmp $END, %rdi
    jb 1b
    ret

/* check: ZF set when every word at [START, END) is its address ^ %rbx. */
check:
    mov $START, %rdi
1:  mov %rdi, %rax
    xor %rbx, %rax
    cmp %rax, (%rdi)
    jne 2f
    add $8, %rdi
    cmp $END, %rdi
    jb 1b
    xor %eax, %eax      /* ZF = 1 */
2:  ret

#include "lib.S"
ok:     .asciz "cowstorm ok\n"
fail_a: .asciz "cowstorm FAIL A\n"
fail_b: .asciz "cowstorm FAIL B\n"
