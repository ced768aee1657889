/* In-flight virtio requests across a save (issue 11; src/vmm/inflight_kvm_test.cpp).
 * Drives a virtio-blk device (first virtio-mmio window) and a virtio-rng
 * device (second window) over virtio-mmio (virtio 1.2 §4.2), one split
 * virtqueue each (§2.7), with interrupts off (it polls the used rings):
 *
 *   A  blk read of sector 0, notified; then the guest waits until the host
 *      side says the disk has started serving it (FLAG, written by the
 *      test's disk), so A is popped but not completed from here on;
 *   R  rng request for 16 bytes, notified while A still holds the VMM's
 *      I/O thread: its notification is pending, not served;
 *   then it asks for a save through port 0x5a0. Wherever it continues (the
 *   saved VM or a clone), it waits for A and R, then
 *   W  blk write of a pattern to sector 1, and
 *   C  blk read of sector 1 back.
 *
 * Records on TEST_PORT (32-bit values):
 *   A: used idx, used len, status, sum of the 128 data dwords, first dword
 *   R: used idx, used len, the 16 bytes as four dwords
 *   W: used idx, status
 *   C: used idx, used len, status, sum of the 128 data dwords, first dword
 * then prints "inflight done" and reboots. A missing device prints
 * "inflight: no device", a request that never completes "inflight: timeout". */
#include "common.inc"
.set BLK, 0xd0000000
.set RNG, 0xd0001000
.set REG_MAGIC, 0x000
.set REG_DEVICE_ID, 0x008
.set REG_DRIVER_FEATURES, 0x020
.set REG_DRIVER_FEATURES_SEL, 0x024
.set REG_QUEUE_SEL, 0x030
.set REG_QUEUE_NUM, 0x038
.set REG_QUEUE_READY, 0x044
.set REG_QUEUE_NOTIFY, 0x050
.set REG_STATUS, 0x070
.set REG_QUEUE_DESC, 0x080
.set REG_QUEUE_DRIVER, 0x090
.set REG_QUEUE_DEVICE, 0x0a0
.set VIRT_MAGIC, 0x74726976   /* "virt" */
.set QSIZE, 4
.set BDESC, 0x400000          /* blk queue: 4 x 16-byte descriptors */
.set BAVAIL, 0x400100         /* flags, idx, ring[4], used_event */
.set BUSED, 0x401000          /* flags, idx, ring[4] of {id, len} */
.set HDR, 0x402000            /* virtio_blk_req header: type, reserved, sector */
.set STATUS, 0x402100         /* the status byte */
.set DATA, 0x403000           /* one 512-byte sector */
.set RDESC, 0x404000          /* rng queue */
.set RAVAIL, 0x404100
.set RUSED, 0x405000
.set RBUF, 0x406000           /* the 16 bytes virtio-rng fills */
.set FLAG, 0x407000           /* the test's disk writes 1 here when A reaches it */
.set POLL_LIMIT, 400000000
.code64
.globl _start
_start:
    mov $BLK, %rbx
    mov $2, %esi                            /* virtio-blk */
    mov $BDESC, %r8
    mov $BAVAIL, %r9
    mov $BUSED, %r10
    call init_device
    mov $RNG, %rbx
    mov $4, %esi                            /* virtio-rng */
    mov $RDESC, %r8
    mov $RAVAIL, %r9
    mov $RUSED, %r10
    call init_device

    /* A: read sector 0. */
    xor %eax, %eax                          /* VIRTIO_BLK_T_IN */
    xor %ecx, %ecx
    call blk_request
    mov $POLL_LIMIT, %ecx
1:  cmpl $0, FLAG
    jne 2f
    pause
    dec %ecx
    jnz 1b
    jmp timeout_out
2:  /* R: 16 random bytes, notified while A is being served. */
    movq $RBUF, RDESC
    movl $16, RDESC+8
    movw $2, RDESC+12                       /* VIRTQ_DESC_F_WRITE */
    movw $0, RDESC+14
    movw $0, RAVAIL+4                       /* ring[0] = descriptor 0 */
    mfence
    movw $1, RAVAIL+2                       /* avail idx 1 */
    mfence
    mov $RNG, %rbx
    movl $0, REG_QUEUE_NOTIFY(%rbx)

    RING_SAVE

    mov $1, %eax
    call wait_blk
    call report_blk
    mov $1, %eax
    lea RUSED+2, %rdi
    call wait_used
    mov $TEST_PORT, %dx
    movzwl RUSED+2, %eax
    out %eax, %dx
    mov RUSED+8, %eax                       /* ring[0].len */
    out %eax, %dx
    mov RBUF, %eax
    out %eax, %dx
    mov RBUF+4, %eax
    out %eax, %dx
    mov RBUF+8, %eax
    out %eax, %dx
    mov RBUF+12, %eax
    out %eax, %dx

    /* W: sector 1 := dword i holds i * 0x01020304 + 0x5a5a0000. */
    xor %ecx, %ecx
3:  mov %ecx, %eax
    imul $0x01020304, %eax
    add $0x5a5a0000, %eax
    mov %eax, DATA(,%rcx,4)
    inc %ecx
    cmp $128, %ecx
    jne 3b
    mov $1, %eax                            /* VIRTIO_BLK_T_OUT */
    mov $1, %ecx
    call blk_request
    mov $2, %eax
    call wait_blk
    mov $TEST_PORT, %dx
    movzwl BUSED+2, %eax
    out %eax, %dx
    movzbl STATUS, %eax
    out %eax, %dx

    /* C: read sector 1 back into a cleared buffer. */
    xor %ecx, %ecx
4:  movl $0, DATA(,%rcx,4)
    inc %ecx
    cmp $128, %ecx
    jne 4b
    xor %eax, %eax
    mov $1, %ecx
    call blk_request
    mov $3, %eax
    call wait_blk
    call report_blk

    lea done(%rip), %rsi
    call puts
    REBOOT

/* §3.1.1 and §4.2.3.2 for the device at %rbx, which must have device ID
 * %esi: reset, ACKNOWLEDGE, DRIVER, VERSION_1 only, FEATURES_OK, queue 0
 * of QSIZE entries at %r8 (descriptors), %r9 (driver), %r10 (device),
 * DRIVER_OK. */
init_device:
    cmpl $VIRT_MAGIC, REG_MAGIC(%rbx)
    jne no_device
    cmpl %esi, REG_DEVICE_ID(%rbx)
    jne no_device
    movl $0, REG_STATUS(%rbx)
    movl $1, REG_STATUS(%rbx)
    movl $3, REG_STATUS(%rbx)
    movl $1, REG_DRIVER_FEATURES_SEL(%rbx)
    movl $1, REG_DRIVER_FEATURES(%rbx)      /* VIRTIO_F_VERSION_1 (bit 32) */
    movl $0, REG_DRIVER_FEATURES_SEL(%rbx)
    movl $0, REG_DRIVER_FEATURES(%rbx)
    movl $11, REG_STATUS(%rbx)
    testl $8, REG_STATUS(%rbx)
    jz no_device
    movl $0, REG_QUEUE_SEL(%rbx)
    movl $QSIZE, REG_QUEUE_NUM(%rbx)
    movl %r8d, REG_QUEUE_DESC(%rbx)
    movl $0, REG_QUEUE_DESC+4(%rbx)
    movl %r9d, REG_QUEUE_DRIVER(%rbx)
    movl $0, REG_QUEUE_DRIVER+4(%rbx)
    movl %r10d, REG_QUEUE_DEVICE(%rbx)
    movl $0, REG_QUEUE_DEVICE+4(%rbx)
    movl $1, REG_QUEUE_READY(%rbx)
    movl $15, REG_STATUS(%rbx)              /* DRIVER_OK */
    ret

/* One blk request of type %eax for sector %ecx over DATA (512 bytes):
 * header, data (device-writable for a read), status byte (§5.2.6), as
 * descriptors 0-2, published and notified. */
blk_request:
    movl %eax, HDR
    movl $0, HDR+4
    movl %ecx, HDR+8
    movl $0, HDR+12
    movb $0xff, STATUS
    movq $HDR, BDESC
    movl $16, BDESC+8
    movw $1, BDESC+12                       /* NEXT */
    movw $1, BDESC+14
    movq $DATA, BDESC+16
    movl $512, BDESC+24
    mov $3, %edx                            /* NEXT | WRITE: the device fills it */
    test %eax, %eax
    jz 1f
    mov $1, %edx                            /* NEXT: the device reads it */
1:  movw %dx, BDESC+28
    movw $2, BDESC+30
    movq $STATUS, BDESC+32
    movl $1, BDESC+40
    movw $2, BDESC+44                       /* WRITE */
    movw $0, BDESC+46
    movzwl BAVAIL+2, %eax
    mov %eax, %ecx
    and $(QSIZE - 1), %ecx
    movw $0, BAVAIL+4(,%rcx,2)              /* ring[idx % QSIZE] = descriptor 0 */
    inc %eax
    mfence                                  /* descriptors before the index (§2.7.13) */
    movw %ax, BAVAIL+2
    mfence
    mov $BLK, %rbx
    movl $0, REG_QUEUE_NOTIFY(%rbx)
    ret

/* Waits until the blk used idx is %eax. */
wait_blk:
    lea BUSED+2, %rdi
    /* fall through */
/* Waits until the 16-bit used idx at %rdi is %ax. */
wait_used:
    mov $POLL_LIMIT, %ecx
1:  cmpw %ax, (%rdi)
    je 2f
    pause
    dec %ecx
    jnz 1b
    jmp timeout_out
2:  ret

/* The last blk request: used idx, its used len, status, data sum, dword 0. */
report_blk:
    mov $TEST_PORT, %dx
    movzwl BUSED+2, %eax
    out %eax, %dx
    dec %eax
    and $(QSIZE - 1), %eax
    mov BUSED+8(,%rax,8), %eax              /* used ring[idx - 1].len */
    out %eax, %dx
    movzbl STATUS, %eax
    out %eax, %dx
    xor %eax, %eax
    xor %ecx, %ecx
1:  add DATA(,%rcx,4), %eax
    inc %ecx
    cmp $128, %ecx
    jne 1b
    out %eax, %dx
    mov DATA, %eax
    out %eax, %dx
    ret

timeout_out:
    lea timeout(%rip), %rsi
    call puts
    REBOOT

no_device:
    lea nodev(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
done:    .asciz "inflight done\n"
nodev:   .asciz "inflight: no device\n"
timeout: .asciz "inflight: timeout\n"
