/* Drives amber's virtio-rng device (virtio 1.2 §5.4) over virtio-mmio
 * (§4.2) with one split virtqueue (§2.7), then asks for a save through port
 * 0x5a0, then asks for random bytes again. Each request writes to TEST_PORT
 * the used length and then the 16 bytes as four 32-bit words.
 *
 * The second request runs wherever the VM continues after the save: in the
 * saved VM when it keeps running, and in every VM resumed from the image.
 * Clones of one image must each get their own bytes (docs/entropy.md).
 *
 * The device must sit in the first virtio-mmio window (a VM without disks).
 * A missing device prints "rng: no device" and reboots; a device that never
 * answers prints "rng: timeout". */
#include "common.inc"
.set MMIO, 0xd0000000
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
.set DESC, 0x400000           /* 4 x 16-byte descriptors */
.set AVAIL, 0x400100          /* flags, idx, ring[4], used_event */
.set USED, 0x401000           /* flags, idx, ring[4] of {id, len} */
.set BUF, 0x402000            /* the 16 bytes the device fills */
.set POLL_LIMIT, 200000000
.code64
.globl _start
_start:
    mov $MMIO, %rbx
    cmpl $VIRT_MAGIC, REG_MAGIC(%rbx)
    jne no_device
    cmpl $4, REG_DEVICE_ID(%rbx)
    jne no_device
    /* §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. */
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
    /* §4.2.3.2: queue 0 with QSIZE entries. */
    movl $0, REG_QUEUE_SEL(%rbx)
    movl $QSIZE, REG_QUEUE_NUM(%rbx)
    movl $DESC, REG_QUEUE_DESC(%rbx)
    movl $0, REG_QUEUE_DESC+4(%rbx)
    movl $AVAIL, REG_QUEUE_DRIVER(%rbx)
    movl $0, REG_QUEUE_DRIVER+4(%rbx)
    movl $USED, REG_QUEUE_DEVICE(%rbx)
    movl $0, REG_QUEUE_DEVICE+4(%rbx)
    movl $1, REG_QUEUE_READY(%rbx)
    movl $15, REG_STATUS(%rbx)              /* DRIVER_OK */

    call request
    mov $SAVE_REQUEST, %eax
    mov $AMBER_CTL, %dx
    out %eax, %dx
    call request
    lea done(%rip), %rsi
    call puts
    REBOOT

/* One 16-byte request; writes the used length and the bytes to TEST_PORT. */
request:
    movq $BUF, DESC
    movl $16, DESC+8
    movw $2, DESC+12                        /* VIRTQ_DESC_F_WRITE */
    movw $0, DESC+14
    movzwl AVAIL+2, %eax                    /* avail idx */
    mov %eax, %ecx
    and $(QSIZE - 1), %ecx
    movw $0, AVAIL+4(,%rcx,2)               /* ring[idx % QSIZE] = descriptor 0 */
    inc %eax
    mfence                                  /* descriptor before index (§2.7.13) */
    movw %ax, AVAIL+2
    mfence
    movl $0, REG_QUEUE_NOTIFY(%rbx)
    mov $POLL_LIMIT, %ecx
1:  cmpw %ax, USED+2
    je 2f
    pause
    dec %ecx
    jnz 1b
    lea timeout(%rip), %rsi
    call puts
    REBOOT
2:  dec %eax
    and $(QSIZE - 1), %eax
    mov USED+8(,%rax,8), %eax               /* used ring[idx - 1].len */
    mov $TEST_PORT, %dx
    out %eax, %dx
    mov BUF, %eax
    out %eax, %dx
    mov BUF+4, %eax
    out %eax, %dx
    mov BUF+8, %eax
    out %eax, %dx
    mov BUF+12, %eax
    out %eax, %dx
    ret

no_device:
    lea nodev(%rip), %rsi
    call puts
    REBOOT

#include "lib.S"
done:    .asciz "rng done\n"
nodev:   .asciz "rng: no device\n"
timeout: .asciz "rng: timeout\n"
