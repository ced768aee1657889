/* Sweeps 8192 pages (32 MiB from 16 MiB) forever, writing generation G
 * (%rax: 1, 2, 3, ...) into the first quadword of each page in turn, %rcx
 * the page index. At any instant the pages below %rcx hold G and the rest
 * G-1 (give or take the page being written): an image of it must show one
 * boundary next to the saved %rcx. A background save that copied RAM
 * while the guest ran on would show several generations (issue 12;
 * src/vmm/background_save_kvm_test.cpp). Prints "ready" once. */
#include "common.inc"
.set BASE, 0x1000000
.set PAGES, 8192
.code64
.globl _start
_start:
    lea ready(%rip), %rsi
    call puts
    mov $1, %rax
outer:
    xor %ecx, %ecx
inner:
    mov %rcx, %rdx
    shl $12, %rdx
    mov %rax, BASE(%rdx)
    inc %rcx
    cmp $PAGES, %rcx
    jb inner
    inc %rax
    jmp outer

#include "lib.S"
ready: .asciz "ready\n"
