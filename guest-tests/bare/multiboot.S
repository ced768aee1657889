/* A multiboot (version 1) kernel that checks what amber's loader gives it
 * (Multiboot Specification 0.6.96 sections 3.2 and 3.3), prints what it
 * finds on COM1 and reports through --debug-exit: 0x31 (exit status 0x63)
 * when every check passed, else the number of the failed check N (exit
 * status (N << 1) | 1).
 *
 * Built three ways from this file (meson.build): mb32.elf (ELF32, linked
 * with -m32/-melf_i386), mb64.elf (the same 32-bit code in an ELF64) and
 * mbaout.bin (a flat binary whose header has the address fields, flag bit
 * 16; MB_ADDRESS_FIELDS). The loader enters all three in 32-bit protected
 * mode with paging off.
 *
 * Checks: 1 EAX = 0x2BADB002; 2 the bss is zero; 3 the information flags
 * (memory, cmdline, mods, mmap, boot loader name); 4 the command line holds
 * "a=b"; 5 mem_lower/mem_upper; 6 the memory map has RAM at 1 MiB, every
 * record 20 bytes; 7 at least one module; 8 module 0 page-aligned; 9 module
 * 0 starts with "amber-module"; 10 the boot loader is "amber"; 11 after a
 * save and resume the module is still there.
 * With "save" in the command line it rings amber's control port (a save
 * with --save) between its checks and the final module check. */
#include "common.inc"

.set MB_MAGIC, 0x1BADB002
#ifdef MB_ADDRESS_FIELDS
.set MB_FLAGS, 0x00010003          /* page-aligned modules, memory info, address fields */
#else
.set MB_FLAGS, 0x00000003
#endif
.set INFO_FLAGS_WANT, 0x24d        /* bits 0, 2, 3, 6, 9 */
.set PASS, 0x31

.section .multiboot, "a"
.align 4
mb_header:
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
#ifdef MB_ADDRESS_FIELDS
    .long mb_header                 /* header_addr */
    .long _load_start               /* load_addr */
    .long _load_end                 /* load_end_addr */
    .long _bss_end                  /* bss_end_addr */
    .long _start                    /* entry_addr */
#endif

.text
.code32
.globl _start
_start:
    cmp $0x2BADB002, %eax
    mov $1, %ecx
    jne fail_nostack
    mov %ebx, info
    /* The bss (zeroed by the loader) before the stack in it is used. */
    mov $bss_probe, %edi
    mov $(bss_probe_end - bss_probe) / 4, %ecx
    xor %eax, %eax
    repe scasl
    mov $2, %ecx
    jne fail_nostack
    mov $stack_top, %esp

    mov $s_hello, %esi
    call puts
    mov info, %ebx
    mov (%ebx), %eax               /* flags */
    and $INFO_FLAGS_WANT, %eax
    cmp $INFO_FLAGS_WANT, %eax
    mov $3, %ecx
    jne fail

    /* boot_loader_name (offset 64) */
    mov $s_loader, %esi
    call puts
    mov 64(%ebx), %esi
    call puts
    call newline
    mov 64(%ebx), %esi
    mov $s_amber, %edi
    mov $6, %ecx                   /* "amber" and its NUL */
    repe cmpsb
    mov $10, %ecx
    jne fail

    /* cmdline (offset 16) */
    mov $s_cmdline, %esi
    call puts
    mov 16(%ebx), %esi
    call puts
    call newline
    mov 16(%ebx), %esi
    mov $s_ab, %edi
    call contains
    mov $4, %ecx
    test %eax, %eax
    jz fail

    /* mem_lower, mem_upper (offsets 4, 8), in KiB */
    mov $s_mem, %esi
    call puts
    mov 4(%ebx), %eax
    call puthex
    mov $s_upper, %esi
    call puts
    mov 8(%ebx), %eax
    call puthex
    call newline
    mov $5, %ecx
    cmpl $0, 4(%ebx)
    je fail
    cmpl $640, 4(%ebx)
    ja fail
    cmpl $(15 * 1024), 8(%ebx)     /* at least 16 MiB of RAM */
    jb fail

    /* mmap_length, mmap_addr (offsets 44, 48): records of size (4 bytes,
     * not counting itself), base_addr (8), length (8), type (4). */
    mov 48(%ebx), %esi
    mov 44(%ebx), %edi
    add %esi, %edi                 /* end */
    xor %ebp, %ebp                 /* found RAM holding 1 MiB */
1:  cmp %edi, %esi
    jae 3f
    mov $6, %ecx
    cmpl $20, (%esi)
    jne fail
    push %esi
    mov $s_mmap, %esi
    call puts
    pop %esi
    mov 4(%esi), %eax              /* base, low half */
    call puthex
    mov $s_space, %eax
    push %esi
    mov %eax, %esi
    call puts
    pop %esi
    mov 12(%esi), %eax             /* length, low half */
    call puthex
    push %esi
    mov $s_type, %esi
    call puts
    pop %esi
    mov 20(%esi), %eax
    call puthex
    call newline
    cmpl $1, 20(%esi)              /* RAM */
    jne 2f
    cmpl $0, 8(%esi)               /* base below 4 GiB */
    jne 2f
    mov 4(%esi), %eax
    cmp $0x100000, %eax
    ja 2f
    add 12(%esi), %eax
    cmp $0x100000, %eax
    jbe 2f
    mov $1, %ebp
2:  add (%esi), %esi
    add $4, %esi
    jmp 1b
3:  mov $6, %ecx
    test %ebp, %ebp
    jz fail

    /* mods_count, mods_addr (offsets 20, 24): mod_start, mod_end, string */
    mov $7, %ecx
    cmpl $0, 20(%ebx)
    je fail
    mov 24(%ebx), %edx
    mov $8, %ecx
    testl $0xfff, (%edx)
    jnz fail
    mov $s_module, %esi
    call puts
    mov 8(%edx), %esi
    call puts
    mov $s_space, %esi
    call puts
    mov 4(%edx), %eax
    sub (%edx), %eax
    call puthex
    mov $s_bytes, %esi
    call puts
    mov (%edx), %esi
    call putline                   /* the module's first line */
    call check_module
    mov $9, %ecx
    test %eax, %eax
    jz fail

    /* "save" in the command line: ask for a save (amber's control port),
     * then check the module again, in this VM or in the resumed one. */
    mov 16(%ebx), %esi
    mov $s_save, %edi
    call contains
    test %eax, %eax
    jz 4f
    mov $s_saving, %esi
    call puts
    mov $SAVE_REQUEST, %eax
    mov $AMBER_CTL, %dx
    out %eax, %dx
    mov $s_after, %esi
    call puts
    mov info, %ebx
    call check_module
    mov $11, %ecx
    test %eax, %eax
    jz fail
4:  mov $s_pass, %esi
    call puts
    mov $PASS, %eax
    out %eax, $DEBUG_EXIT
5:  hlt
    jmp 5b

/* fail: print "multiboot: FAIL N" (N = %ecx) and exit with N. */
fail:
    push %ecx
    mov $s_fail, %esi
    call puts
    mov (%esp), %eax
    call puthex
    call newline
    pop %ecx
fail_nostack:
    mov %ecx, %eax
    out %eax, $DEBUG_EXIT
1:  hlt
    jmp 1b

/* check_module: %eax = 1 when module 0 (info in %ebx) starts with
 * "amber-module". */
check_module:
    push %esi
    push %edi
    push %ecx
    mov 24(%ebx), %esi
    mov (%esi), %esi
    mov $s_modmagic, %edi
    mov $12, %ecx
    xor %eax, %eax
    repe cmpsb
    jne 1f
    mov $1, %eax
1:  pop %ecx
    pop %edi
    pop %esi
    ret

/* contains: %eax = 1 when the string at %esi contains the one at %edi. */
contains:
    push %esi
    push %ebx
1:  mov %esi, %ebx
    mov %edi, %edx
2:  movb (%edx), %al
    test %al, %al
    jz 3f                          /* the whole needle matched */
    cmpb (%ebx), %al
    jne 4f
    inc %ebx
    inc %edx
    jmp 2b
4:  cmpb $0, (%esi)
    je 5f
    inc %esi
    jmp 1b
3:  mov $1, %eax
    pop %ebx
    pop %esi
    ret
5:  xor %eax, %eax
    pop %ebx
    pop %esi
    ret

/* putc: %al on COM1, waiting for THRE. Keeps every register. */
putc:
    push %edx
    push %eax
1:  mov $COM1_LSR, %dx
    in %dx, %al
    test $0x20, %al
    jz 1b
    pop %eax
    mov $COM1, %dx
    out %al, %dx
    pop %edx
    ret

/* puts: the NUL-terminated string at %esi. */
puts:
    push %esi
    push %eax
1:  lodsb
    test %al, %al
    jz 2f
    call putc
    jmp 1b
2:  pop %eax
    pop %esi
    ret

/* putline: the string at %esi up to its first newline or NUL, at most 64
 * bytes, then a newline. */
putline:
    push %esi
    push %ecx
    mov $64, %ecx
1:  lodsb
    test %al, %al
    jz 2f
    cmp $'\n', %al
    je 2f
    call putc
    loop 1b
2:  call newline
    pop %ecx
    pop %esi
    ret

newline:
    push %eax
    mov $'\n', %al
    call putc
    pop %eax
    ret

/* puthex: %eax as 0x followed by 8 hex digits. */
puthex:
    push %eax
    push %ecx
    push %edx
    mov %eax, %edx
    mov $'0', %al
    call putc
    mov $'x', %al
    call putc
    mov $8, %ecx
1:  rol $4, %edx
    mov %dl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '0' - 10), %al
2:  call putc
    loop 1b
    pop %edx
    pop %ecx
    pop %eax
    ret

.section .rodata
s_hello:    .asciz "multiboot: entered in protected mode, EAX=0x2badb002\n"
s_loader:   .asciz "multiboot: boot loader "
s_amber:    .asciz "amber"
s_cmdline:  .asciz "multiboot: cmdline "
s_ab:       .asciz "a=b"
s_save:     .asciz "save"
s_mem:      .asciz "multiboot: mem_lower "
s_upper:    .asciz " KiB, mem_upper "
s_mmap:     .asciz "multiboot: mmap "
s_type:     .asciz " type "
s_space:    .asciz " "
s_module:   .asciz "multiboot: module "
s_bytes:    .asciz " bytes: "
s_modmagic: .ascii "amber-module"
s_saving:   .asciz "multiboot: asking for a save\n"
s_after:    .asciz "multiboot: after the save request\n"
s_pass:     .asciz "multiboot: all checks passed\n"
s_fail:     .asciz "multiboot: FAIL "

.data
.align 4
info: .long 0

.bss
.align 16
bss_probe: .skip 256
bss_probe_end:
.skip 4096
stack_top:
