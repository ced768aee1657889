/* amber-guest-save: ask the amber VMM to save this VM (docs/api.md), and
 * re-seed the kernel's random number generator wherever the VM continues
 * afterwards (docs/entropy.md).
 *
 * Save: rings amber's UART doorbell: sets the 16550's MCR.OUT1 bit (wired
 * to nothing on a PC) on /dev/ttyS0 with ioctl(TIOCMBIS, TIOCM_OUT1), which
 * Linux's 8250 driver writes straight to MCR (serial8250_TIOCM_to_MCR). No
 * privileges are needed, unlike port 0x510, which a kernel without
 * ioperm/iopl and without /dev/port cannot let userspace reach.
 *
 * The VMM saves to its --save IMAGE and exits or continues per --then. The
 * save is asynchronous: the VM is paused a little after the ioctl returns,
 * so this program waits before clearing OUT1 again (clearing it re-arms the
 * doorbell; the VMM rings on the 0 -> 1 edge only). A resumed VM continues
 * somewhere in that wait.
 *
 * Re-seed: every VM resumed from the image continues here with the same
 * kernel CRNG state, so all clones would produce the same "random" bytes
 * until the kernel's next scheduled reseed. After the wait this program
 * mixes 64 bytes of /dev/hwrng (amber's virtio-rng: fresh host entropy,
 * present when the kernel has CONFIG_HW_RANDOM_VIRTIO) into the pool and
 * forces a reseed with RNDRESEEDCRNG (random(4); root only), which also
 * mixes RDSEED/RDRAND and the interrupt timings since the resume. The
 * outcome is printed as one line: "amber-guest-save: reseeded (hwrng 64
 * bytes)" or "... (no hwrng)".
 *
 * Build: gcc -static -Os -o amber-guest-save amber-guest-save.c
 * Usage: amber-guest-save [--no-reseed] [TTY]   (default /dev/ttyS0) */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCM_OUT1
#define TIOCM_OUT1 0x2000 /* asm-generic/termios.h; glibc's headers leave it out */
#endif

static int reseed(void) {
  unsigned char seed[64];
  ssize_t got = -1;
  int hw = open("/dev/hwrng", O_RDONLY | O_CLOEXEC);
  if (hw >= 0) {
    got = read(hw, seed, sizeof seed);
    close(hw);
  }
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    perror("amber-guest-save: /dev/urandom");
    return 1;
  }
  /* Writing mixes into the input pool without crediting entropy; the
   * reseed below then extracts from that pool into a new CRNG key. */
  if (got > 0 && write(fd, seed, (size_t)got) != got) perror("amber-guest-save: write /dev/urandom");
  memset(seed, 0, sizeof seed);
  if (ioctl(fd, RNDRESEEDCRNG) != 0) {
    perror("amber-guest-save: RNDRESEEDCRNG");
    close(fd);
    return 1;
  }
  close(fd);
  if (got > 0)
    printf("amber-guest-save: reseeded (hwrng %zd bytes)\n", got);
  else
    printf("amber-guest-save: reseeded (no hwrng)\n");
  return 0;
}

int main(int argc, char **argv) {
  int do_reseed = 1;
  int arg = 1;
  if (arg < argc && strcmp(argv[arg], "--no-reseed") == 0) {
    do_reseed = 0;
    ++arg;
  }
  const char *tty = arg < argc ? argv[arg] : "/dev/ttyS0";
  int fd = open(tty, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror(tty);
    return 1;
  }
  int bit = TIOCM_OUT1;
  if (ioctl(fd, TIOCMBIS, &bit) != 0) {
    perror("amber-guest-save: TIOCMBIS");
    return 1;
  }
  struct timespec wait = {0, 300 * 1000 * 1000};
  nanosleep(&wait, NULL);
  bit = TIOCM_OUT1;
  if (ioctl(fd, TIOCMBIC, &bit) != 0) perror("amber-guest-save: TIOCMBIC");
  close(fd);
  return do_reseed ? reseed() : 0;
}
