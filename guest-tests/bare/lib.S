/* Small routines shared by the bare-metal guests (included, not linked). */
/* puts: print the NUL-terminated string at %rsi. */
puts:
    lodsb
    test %al, %al
    jz 1f
    PUTC_AL
    jmp puts
1:  ret

/* putdec: print %rax in decimal. Clobbers rax, rcx, rdx, rdi. */
putdec:
    mov $10, %rcx
    lea decbuf_end(%rip), %rdi
    movb $0, (%rdi)
1:  xor %edx, %edx
    div %rcx
    add $'0', %dl
    dec %rdi
    mov %dl, (%rdi)
    test %rax, %rax
    jnz 1b
    push %rsi
    mov %rdi, %rsi
    call puts
    pop %rsi
    ret

decbuf: .skip 24
decbuf_end: .byte 0
