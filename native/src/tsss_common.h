/*
 * Helpers shared by the addon's fork child and tsss-reaper.
 *
 * Everything here runs between fork() and execve() (or in a process that must
 * stay tiny), so it only uses async-signal-safe system calls: no allocation,
 * no stdio, no locks. Written to compile as both C11 and C++17.
 */
#ifndef TSSS_COMMON_H
#define TSSS_COMMON_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One status line ("P 123\n", "E 2 exec\n", "X 0 15\n") built in place. */
struct tsss_line {
  char buf[192]; /* room for the longest line built here: the log's loss mark with its strerror text */
  size_t len;
};

static inline void tsss_line_str(struct tsss_line *line, const char *s) {
  while (*s != '\0' && line->len < sizeof line->buf) line->buf[line->len++] = *s++;
}

static inline void tsss_line_int(struct tsss_line *line, long long value) {
  char digits[24];
  size_t n = 0;
  /* Negate in unsigned arithmetic so LLONG_MIN does not overflow. */
  unsigned long long u = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
  do {
    digits[n++] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u != 0);
  if (value < 0) digits[n++] = '-';
  while (n > 0 && line->len < sizeof line->buf) line->buf[line->len++] = digits[--n];
}

/*
 * Write all of buf. Waits with poll() when fd is non-blocking (Node leaves its
 * stderr pipe O_NONBLOCK, and that open file description is shared with us).
 * Returns 0 or an errno value.
 */
static inline int tsss_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd pfd;
      pfd.fd = fd;
      pfd.events = POLLOUT;
      pfd.revents = 0;
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return errno;
    } else if (n < 0 && errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

static inline void tsss_line_send(int fd, const struct tsss_line *line) {
  /* Best effort: the reader (the mediator) may already be gone. */
  (void)tsss_write_all(fd, line->buf, line->len);
}

/* "E <errno> <stage>\n" */
static inline void tsss_report_error(int fd, int err, const char *stage) {
  struct tsss_line line = {{0}, 0};
  tsss_line_str(&line, "E ");
  tsss_line_int(&line, err);
  tsss_line_str(&line, " ");
  tsss_line_str(&line, stage);
  tsss_line_str(&line, "\n");
  tsss_line_send(fd, &line);
}

/*
 * Close every fd in [first, last]. close_range(2) needs Linux 5.9; older
 * kernels get a loop bounded by the hard RLIMIT_NOFILE (an fd can sit above
 * the soft limit if the limit was lowered after it was opened).
 * Returns 0 or -1 with errno set.
 */
static inline int tsss_close_range(unsigned int first, unsigned int last) {
  if (first > last) return 0;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, last, 0) == 0) return 0;
  if (errno != ENOSYS) return -1;
#endif
  {
    struct rlimit rl;
    unsigned long end = 1UL << 20; /* the kernel's default fs.nr_open */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < end) {
      end = (unsigned long)rl.rlim_max;
    }
    if ((unsigned long)last < end) end = (unsigned long)last + 1;
    for (unsigned long fd = first; fd < end; fd++) (void)close((int)fd);
  }
  return 0;
}

/*
 * Give the next program a clean signal state: every disposition back to
 * SIG_DFL (SIG_IGN would survive execve, e.g. Node ignores SIGPIPE), then an
 * empty mask. Dispositions go first so that no inherited handler can run
 * once signals are unblocked. glibc refuses its two internal signals with
 * EINVAL; they are never ignored, and execve resets handlers anyway.
 * Returns 0 or -1 with errno set.
 */
static inline int tsss_reset_signals(void) {
  struct sigaction dfl;
  sigset_t none;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)sigaction(sig, &dfl, NULL);
  }
  sigemptyset(&none);
  return sigprocmask(SIG_SETMASK, &none, NULL);
}

#endif /* TSSS_COMMON_H */
