/* amber-guest-save: ask the amber VMM to save this VM (docs/api.md), and
 * re-seed the kernel's random number generator wherever the VM continues
 * afterwards (docs/entropy.md).
 *
 * Save: rings amber's UART doorbell: sets the 16550's MCR.OUT1 bit (wired
 * to nothing on a PC) on /dev/ttyS0 with ioctl(TIOCMBIS, TIOCM_OUT1), which
 * Linux's 8250 driver writes straight to MCR (serial8250_TIOCM_to_MCR). No
 * privileges are needed, unlike port 0x5a0, which a kernel without
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
 * credits 64 bytes of /dev/hwrng (amber's virtio-rng: fresh host entropy,
 * present when the kernel has CONFIG_HW_RANDOM_VIRTIO) to the input pool
 * with RNDADDENTROPY and forces a reseed with RNDRESEEDCRNG (random(4);
 * root only), which also mixes RDSEED/RDRAND and the interrupt timings
 * since the resume. The outcome is printed as one line:
 * "amber-guest-save: reseeded (hwrng 64 bytes)" or "... (no hwrng)", or
 * "... CRNG not initialized yet ..." when there is no key to replace.
 *
 * Build: gcc -static -Os -o amber-guest-save amber-guest-save.c
 * Usage: amber-guest-save [--no-reseed] [TTY]   (default /dev/ttyS0) */
#include <errno.h>
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
  struct {
    struct rand_pool_info info;
    unsigned char bytes[64];
  } seed;
  ssize_t got = -1;
  int hw = open("/dev/hwrng", O_RDONLY | O_CLOEXEC);
  if (hw >= 0) {
    got = read(hw, seed.bytes, sizeof seed.bytes);
    close(hw);
  }
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    perror("amber-guest-save: /dev/urandom");
    return 1;
  }
  if (got > 0) {
    /* Host entropy, credited in full: it can also complete the CRNG's
     * first initialization. */
    seed.info.entropy_count = (int)(got * 8);
    seed.info.buf_size = (int)got;
    if (ioctl(fd, RNDADDENTROPY, &seed) != 0) perror("amber-guest-save: RNDADDENTROPY");
  }
  memset(&seed, 0, sizeof seed);
  const char *source = got > 0 ? "hwrng 64 bytes" : "no hwrng";
  if (ioctl(fd, RNDRESEEDCRNG) != 0) {
    int err = errno;
    close(fd);
    if (err == ENODATA) {
      /* Not initialized yet: there is no shared key to replace, and the
       * CRNG will be keyed from what each clone gathers after the resume. */
      printf("amber-guest-save: CRNG not initialized yet, nothing to re-key (%s)\n", source);
      return 0;
    }
    errno = err;
    perror("amber-guest-save: RNDRESEEDCRNG");
    return 1;
  }
  close(fd);
  printf("amber-guest-save: reseeded (%s)\n", source);
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
