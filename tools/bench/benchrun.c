// benchrun - run one VMM process and time what appears on its console.
//
// Usage: benchrun [options] -- COMMAND [ARGS...]
//   -m NAME=TEXT   report the time at which TEXT first appears in the output
//                  (stdout and stderr together), as "benchrun: mark NAME MS";
//                  repeatable
//   -q TEXT        when TEXT appears (after all marks so far), stop the child
//                  (SIGTERM, then SIGKILL after 2 s); the run still counts
//                  as successful
//   -i TEXT        write TEXT to the child's stdin right after it starts
//                  (C escapes \n \r \\ are understood)
//   -I NAME=TEXT   when mark NAME is seen, write TEXT to the child's stdin
//                  (escapes as with -i)
//   -x NAME=CMD    when mark NAME is seen, run `sh -c CMD` in the background
//                  (e.g. to drive a QEMU monitor); its exit status is
//                  reported as "benchrun: hook NAME STATUS MS"
//   -o FILE        copy everything the child prints to FILE
//   -t SECS        time limit (default 120): then SIGKILL, exit status 124
//   -k FILE        a counter file (e.g. /sys/kernel/debug/kvm/pf_fixed): read
//                  at the first stdout and at each mark (after its -I, before
//                  -q), printed as "benchrun: count WHEN BASENAME VALUE" (WHEN
//                  is first-stdout or the mark's name); repeatable. An
//                  unreadable file prints nothing.
//
// Times are milliseconds of CLOCK_MONOTONIC since just before fork(), so they
// include exec, dynamic linking and everything the VMM does before the guest
// prints. Also printed: "benchrun: first-stdout MS" (first byte on the child's
// stdout, i.e. the guest console) and "benchrun: exit STATUS MS" at the end.
// The child's stdin is a pipe that stays open (never EOF) until it exits.
// Exit status: 0 when the child exited (any status) or was stopped by -q and
// every -m mark was seen; 1 when a mark is missing; 124 on the time limit.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MARKS 16

static struct timespec t0;
static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0.tv_sec) * 1e3 + (t.tv_nsec - t0.tv_nsec) / 1e6;
}

static char* unescape(const char* s) {
  char* out = malloc(strlen(s) + 1);
  char* o = out;
  for (; *s; ++s) {
    if (*s == '\\' && s[1]) {
      ++s;
      *o++ = *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s == 't' ? '\t' : *s;
    } else {
      *o++ = *s;
    }
  }
  *o = 0;
  return out;
}

struct mark {
  char* name;
  char* text;
  int seen;
  char* hook;  // -x command, or NULL
  char* send;  // -I text, or NULL
  pid_t hook_pid;
};

static const char* counters[MAX_MARKS];
static int ncounters;

// Prints each -k counter's value now; KVM's debugfs files hold one decimal.
static void print_counters(const char* when) {
  for (int c = 0; c < ncounters; ++c) {
    int fd = open(counters[c], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char v[64];
    ssize_t n = read(fd, v, sizeof v - 1);
    close(fd);
    if (n <= 0) continue;
    v[n] = 0;
    const char* base = strrchr(counters[c], '/');
    printf("benchrun: count %s %s %llu\n", when, base ? base + 1 : counters[c], strtoull(v, NULL, 10));
  }
  fflush(stdout);
}

static void usage(void) {
  fprintf(stderr, "usage: benchrun [-m NAME=TEXT]... [-q TEXT] [-i TEXT] [-I NAME=TEXT]... [-x NAME=CMD]... [-k FILE]... [-o FILE] [-t SECS] -- COMMAND [ARGS...]\n");
  exit(2);
}

int main(int argc, char** argv) {
  struct mark marks[MAX_MARKS];
  int nmarks = 0;
  const char* quit_text = NULL;
  char* input = NULL;
  const char* outfile = NULL;
  double limit_s = 120;
  int opt;
  char* hooks[MAX_MARKS];
  int nhooks = 0;
  char* sends[MAX_MARKS];
  int nsends = 0;
  while ((opt = getopt(argc, argv, "+m:q:i:I:x:k:o:t:")) != -1) {
    switch (opt) {
      case 'm': {
        char* eq = strchr(optarg, '=');
        if (!eq || nmarks == MAX_MARKS) usage();
        *eq = 0;
        marks[nmarks] = (struct mark){optarg, unescape(eq + 1), 0, NULL, NULL, 0};
        ++nmarks;
        break;
      }
      case 'q': quit_text = unescape(optarg); break;
      case 'i': input = unescape(optarg); break;
      case 'x':
        if (nhooks == MAX_MARKS || !strchr(optarg, '=')) usage();
        hooks[nhooks++] = optarg;
        break;
      case 'I':
        if (nsends == MAX_MARKS || !strchr(optarg, '=')) usage();
        sends[nsends++] = optarg;
        break;
      case 'k':
        if (ncounters == MAX_MARKS) usage();
        counters[ncounters++] = optarg;
        break;
      case 'o': outfile = optarg; break;
      case 't': limit_s = atof(optarg); break;
      default: usage();
    }
  }
  if (optind >= argc) usage();
  for (int h = 0; h < nhooks; ++h) {
    char* eq = strchr(hooks[h], '=');
    *eq = 0;
    int found = 0;
    for (int i = 0; i < nmarks; ++i)
      if (!strcmp(marks[i].name, hooks[h])) { marks[i].hook = eq + 1; found = 1; }
    if (!found) { fprintf(stderr, "benchrun: -x %s: no such mark\n", hooks[h]); return 2; }
  }
  for (int h = 0; h < nsends; ++h) {
    char* eq = strchr(sends[h], '=');
    *eq = 0;
    int found = 0;
    for (int i = 0; i < nmarks; ++i)
      if (!strcmp(marks[i].name, sends[h])) { marks[i].send = unescape(eq + 1); found = 1; }
    if (!found) { fprintf(stderr, "benchrun: -I %s: no such mark\n", sends[h]); return 2; }
  }
  FILE* out = NULL;
  if (outfile && !(out = fopen(outfile, "w"))) { perror(outfile); return 2; }

  int in_p[2], out_p[2], err_p[2];
  if (pipe(in_p) || pipe(out_p) || pipe(err_p)) { perror("pipe"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    dup2(in_p[0], 0);
    dup2(out_p[1], 1);
    dup2(err_p[1], 2);
    close(in_p[0]); close(in_p[1]); close(out_p[0]); close(out_p[1]); close(err_p[0]); close(err_p[1]);
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "benchrun: exec %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  close(in_p[0]); close(out_p[1]); close(err_p[1]);
  fcntl(in_p[1], F_SETFD, FD_CLOEXEC);
  fcntl(out_p[0], F_SETFD, FD_CLOEXEC);
  fcntl(err_p[0], F_SETFD, FD_CLOEXEC);
  if (input) {
    size_t n = strlen(input);
    if (write(in_p[1], input, n) != (ssize_t)n) perror("benchrun: write input");
  }

  size_t cap = 1 << 16, len = 0;
  char* buf = malloc(cap);
  int open_fds = 2, first_stdout = 0, quitting = 0, timed_out = 0;
  double quit_at = 0;
  struct pollfd pfd[2] = {{out_p[0], POLLIN, 0}, {err_p[0], POLLIN, 0}};
  while (open_fds > 0) {
    double t = now_ms();
    if (t > limit_s * 1e3) { timed_out = 1; kill(pid, SIGKILL); break; }
    if (quitting && t - quit_at > 2000) kill(pid, SIGKILL);
    int r = poll(pfd, 2, 100);
    if (r < 0 && errno != EINTR) { perror("poll"); break; }
    for (int k = 0; k < 2; ++k) {
      if (pfd[k].fd < 0 || !(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char tmp[4096];
      ssize_t n = read(pfd[k].fd, tmp, sizeof tmp);
      double tr = now_ms();
      if (n <= 0) { close(pfd[k].fd); pfd[k].fd = -1; --open_fds; continue; }
      if (k == 0 && !first_stdout) { first_stdout = 1; printf("benchrun: first-stdout %.2f\n", tr); print_counters("first-stdout"); }
      if (out) fwrite(tmp, 1, n, out);
      if (len + n + 1 > cap) { while (len + n + 1 > cap) cap *= 2; buf = realloc(buf, cap); }
      size_t old = len;
      memcpy(buf + len, tmp, n);
      len += n;
      buf[len] = 0;
      for (int i = 0; i < nmarks; ++i) {
        if (marks[i].seen) continue;
        size_t tl = strlen(marks[i].text);
        size_t from = old >= tl ? old - tl + 1 : 0;
        if (memmem(buf + from, len - from, marks[i].text, tl)) {
          marks[i].seen = 1;
          printf("benchrun: mark %s %.2f\n", marks[i].name, tr);
          fflush(stdout);
          if (marks[i].send) {
            size_t sl = strlen(marks[i].send);
            if (write(in_p[1], marks[i].send, sl) != (ssize_t)sl) perror("benchrun: write input");
          }
          // After the send, so reading them does not delay the next input
          // (and so the next phase's time); before any -q stops the child.
          print_counters(marks[i].name);
          if (marks[i].hook) {
            pid_t h = fork();
            if (h == 0) {
              execl("/bin/sh", "sh", "-c", marks[i].hook, (char*)NULL);
              _exit(127);
            }
            marks[i].hook_pid = h;
          }
        }
      }
      if (quit_text && !quitting) {
        size_t tl = strlen(quit_text);
        size_t from = old >= tl ? old - tl + 1 : 0;
        if (memmem(buf + from, len - from, quit_text, tl)) {
          quitting = 1;
          quit_at = tr;
          kill(pid, SIGTERM);
        }
      }
    }
  }
  int st = 0;
  waitpid(pid, &st, 0);
  double tend = now_ms();
  for (int i = 0; i < nmarks; ++i) {
    if (marks[i].hook_pid > 0) {
      int hs = 0;
      waitpid(marks[i].hook_pid, &hs, 0);
      printf("benchrun: hook %s %d %.2f\n", marks[i].name, WIFEXITED(hs) ? WEXITSTATUS(hs) : 128 + WTERMSIG(hs), now_ms());
    }
  }
  if (out) fclose(out);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  printf("benchrun: exit %d %.2f%s\n", code, tend, timed_out ? " timeout" : quitting ? " quit" : "");
  int missing = 0;
  for (int i = 0; i < nmarks; ++i)
    if (!marks[i].seen) { printf("benchrun: missing %s\n", marks[i].name); missing = 1; }
  if (timed_out) return 124;
  return missing;
}
