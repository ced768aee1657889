/* The 16550 UART with work pending across a save (issue 11;
 * src/vmm/inflight_kvm_test.cpp): FIFOs on (trigger level 1), IER = RDA |
 * THRE, so the THRE interrupt is pending from the start; it writes 0x55415254
 * ("UART") to TEST_PORT and waits (LSR.DR) for the host's input bytes, then
 * asks for a save through port 0x5a0 with both interrupt sources pending and
 * the bytes unread. Wherever it continues, it records on TEST_PORT: IIR, the
 * three received bytes, LSR, IIR, IIR; then prints "uart done" and reboots.
 * Input that never comes prints "uart: timeout". */
#include "common.inc"
.set COM1_IER, 0x3f9
.set COM1_IIR, 0x3fa
.set COM1_LCR, 0x3fb
.set COM1_MCR, 0x3fc
.set POLL_LIMIT, 400000000
.code64
.globl _start
_start:
    mov $COM1_IER, %dx
    mov $0, %al
    out %al, %dx
    mov $COM1_IIR, %dx                      /* FCR: FIFOs on, both cleared, trigger 1 byte */
    mov $0x07, %al
    out %al, %dx
    mov $COM1_LCR, %dx                      /* 8N1 */
    mov $0x03, %al
    out %al, %dx
    mov $COM1_MCR, %dx                      /* DTR | RTS | OUT2 (OUT1 is amber's save doorbell) */
    mov $0x0b, %al
    out %al, %dx
    mov $COM1_IER, %dx                      /* RDA | THRE: THR is empty, so THRE is pending now */
    mov $0x03, %al
    out %al, %dx
    mov $0x55415254, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    mov $POLL_LIMIT, %ecx
1:  mov $COM1_LSR, %dx
    in %dx, %al
    test $1, %al                            /* DR */
    jnz 2f
    pause
    dec %ecx
    jnz 1b
    lea timeout(%rip), %rsi
    call puts
    REBOOT
2:  RING_SAVE

    mov $COM1_IIR, %dx
    call record_in
    mov $COM1, %dx
    call record_in
    call record_in
    call record_in
    mov $COM1_LSR, %dx
    call record_in
    mov $COM1_IIR, %dx
    call record_in
    call record_in
    lea done(%rip), %rsi
    call puts
    REBOOT

/* Reads the byte register at %dx and writes it to TEST_PORT; keeps %dx. */
record_in:
    push %rdx
    in %dx, %al
    movzbl %al, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    pop %rdx
    ret

#include "lib.S"
done:    .asciz "uart done\n"
timeout: .asciz "uart: timeout\n"
