/* amber-guest-save: ask the amber VMM to save this VM (docs/api.md).
 *
 * Rings amber's UART doorbell: sets the 16550's MCR.OUT1 bit (wired to
 * nothing on a PC) on /dev/ttyS0 with ioctl(TIOCMBIS, TIOCM_OUT1), which
 * Linux's 8250 driver writes straight to MCR (serial8250_TIOCM_to_MCR). No
 * privileges are needed, unlike port 0x510, which a kernel without
 * ioperm/iopl and without /dev/port cannot let userspace reach.
 *
 * The VMM saves to its --save IMAGE and exits or continues per --then. The
 * save is asynchronous: the VM is paused a little after the ioctl returns,
 * so this program waits before clearing OUT1 again (clearing it re-arms the
 * doorbell; the VMM rings on the 0 -> 1 edge only). A resumed VM continues
 * somewhere in that wait and this program exits 0.
 *
 * Build: gcc -static -Os -o amber-guest-save amber-guest-save.c
 * Usage: amber-guest-save [TTY]   (default /dev/ttyS0) */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCM_OUT1
#define TIOCM_OUT1 0x2000 /* asm-generic/termios.h; glibc's headers leave it out */
#endif

int main(int argc, char **argv) {
  const char *tty = argc > 1 ? argv[1] : "/dev/ttyS0";
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
  return 0;
}
