/* A guest for the gdb stub's tests (src/vmm/gdb_kvm_test.cpp): counts in
 * %rbx, storing each value in `counter`, until it reaches `limit`, then
 * ends amber through debug-exit with `exit_code` (amber exits with
 * (exit_code << 1) | 1). A debugger breaks at `after_store` (hardware
 * breakpoint) or `exit_path` (software), watches `counter`, and writes
 * `limit` and `exit_code` to steer it. Built twice: gdbtarget.bin to run,
 * gdbtarget.elf (same addresses, with symbols) for gdb. It prints "ready"
 * once, for a --save-on-serial trigger. */
#include "common.inc"
.code64
.globl _start
_start:
    lea ready(%rip), %rsi
    call puts
    xor %ebx, %ebx
.globl loop
loop:
    inc %rbx
    mov %rbx, counter(%rip)
.globl after_store
after_store:
    cmp limit(%rip), %rbx
    jb loop
.globl exit_path
exit_path:
    mov exit_code(%rip), %eax
    out %eax, $DEBUG_EXIT
1:  hlt
    jmp 1b

#include "lib.S"
ready: .asciz "ready\n"
.balign 8
.globl counter
counter:   .quad 0
.globl limit
limit:     .quad 4000000000
.globl exit_code
exit_code: .long 7
