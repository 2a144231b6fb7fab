/*
 * tsss-reaper: the parent of one Jupyter server for the server's lifetime.
 *
 *   tsss-reaper [OPTIONS] -- EXECUTABLE [ARG...]
 *
 * Starts EXECUTABLE in its own session with a clean signal state, reports
 * "P <pid>" or "E <errno> <stage>" on the status fd, then waits for it and
 * reports "X <code> <signal>". Being the server's parent, it reaps the server
 * even where PID 1 does not reap orphans; as a child subreaper it also reaps
 * the server's orphaned descendants (kernels), and exits when none is left.
 * Its own environment is passed to the server verbatim (the mediator has
 * already filtered it).
 *
 * It stays alive as long as the server, so it is linked statically, uses no
 * stdio and allocates at most once (--mark-env), keeping its RSS tiny.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsss_common.h"

extern char **environ;

/* Where starting the server failed; the names are part of the status protocol. */
enum stage { ST_USAGE, ST_LOG_FILE, ST_ENV, ST_FORK, ST_SIGNALS, ST_SETSID, ST_FDS,
             ST_CHDIR, ST_NICE, ST_RLIMIT, ST_EXEC, ST_WAIT };

static const char *const stage_names[] = {
    [ST_USAGE] = "usage",   [ST_LOG_FILE] = "log-file", [ST_ENV] = "env",
    [ST_FORK] = "fork",     [ST_SIGNALS] = "signals",   [ST_SETSID] = "setsid",
    [ST_FDS] = "fds",       [ST_CHDIR] = "chdir",       [ST_NICE] = "nice",
    [ST_RLIMIT] = "rlimit", [ST_EXEC] = "exec",         [ST_WAIT] = "wait",
};

enum option_id { OPT_STATUS_FD, OPT_CWD, OPT_LOG_FILE, OPT_MARK_ENV, OPT_UMASK, OPT_NICE,
                 OPT_RLIMIT, OPT_COUNT };

static const char *const option_names[OPT_COUNT] = {
    [OPT_STATUS_FD] = "--status-fd", [OPT_CWD] = "--cwd",   [OPT_LOG_FILE] = "--log-file",
    [OPT_MARK_ENV] = "--mark-env",   [OPT_UMASK] = "--umask", [OPT_NICE] = "--nice",
    [OPT_RLIMIT] = "--rlimit",
};

struct rlimit_option {
  const char *name;
  int resource;
  int given;
  struct rlimit value;
};

static struct rlimit_option rlimit_options[] = {
    {"NOFILE", RLIMIT_NOFILE, 0, {0, 0}}, {"NPROC", RLIMIT_NPROC, 0, {0, 0}},
    {"AS", RLIMIT_AS, 0, {0, 0}},         {"DATA", RLIMIT_DATA, 0, {0, 0}},
    {"CPU", RLIMIT_CPU, 0, {0, 0}},
    {"CORE", RLIMIT_CORE, 0, {0, 0}},
};
#define RLIMIT_OPTION_COUNT (sizeof rlimit_options / sizeof rlimit_options[0])

struct options {
  int status_fd;
  const char *cwd;
  const char *log_file;
  const char *mark_env;
  mode_t umask;
  int nice;
  unsigned seen; /* bit per enum option_id */
  char **server_argv;
};

#define MARK_NAME_MAX 128

/* "NAME=<pid>": allocated statically, completed by the server child itself. */
static char mark_slot[MARK_NAME_MAX + 1 + 20 + 1];
static size_t mark_value_at;

static char copy_buf[4096];

/* ---- status reports ------------------------------------------------------ */

static _Noreturn void die(int status_fd, int err, enum stage stage) {
  tsss_report_error(status_fd, err, stage_names[stage]);
  _exit(127);
}

static void say(const char *s) { (void)tsss_write_all(2, s, strlen(s)); }

static _Noreturn void usage_error(const struct options *o, const char *reason, const char *arg) {
  say("tsss-reaper: ");
  say(reason);
  if (arg != NULL) {
    say(": ");
    say(arg);
  }
  say("\nusage: tsss-reaper [--status-fd N] --cwd DIR [--rlimit NAME=SOFT:HARD]... [--umask OCTAL]"
      " [--nice N] [--mark-env NAME] [--log-file PATH] -- EXECUTABLE [ARG...]\n");
  die(o->status_fd, EINVAL, ST_USAGE);
}

static void report_started(int status_fd, pid_t pid) {
  struct tsss_line line = {{0}, 0};
  tsss_line_str(&line, "P ");
  tsss_line_int(&line, pid);
  tsss_line_str(&line, "\n");
  tsss_line_send(status_fd, &line);
}

/*
 * "X <code> <signal>" on the status fd, and one line on stderr for the hub,
 * which relays it and so learns the server's real exit status (the hub is not
 * its parent). The format is parsed by the hub clients: keep it.
 */
static void report_exit(int status_fd, pid_t pid, int status) {
  struct tsss_line line = {{0}, 0};
  struct tsss_line hub = {{0}, 0};
  tsss_line_str(&line, "X ");
  tsss_line_int(&line, WIFEXITED(status) ? WEXITSTATUS(status) : 0);
  tsss_line_str(&line, " ");
  tsss_line_int(&line, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  tsss_line_str(&line, "\n");
  tsss_line_send(status_fd, &line);
  tsss_line_str(&hub, "[I tsss-reaper] server pid ");
  tsss_line_int(&hub, pid);
  tsss_line_str(&hub, WIFSIGNALED(status) ? " was killed by signal " : " exited with status ");
  tsss_line_int(&hub, WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  tsss_line_str(&hub, "\n");
  tsss_line_send(2, &hub);
}

/* ---- option parsing ------------------------------------------------------ */

/* Digits only (no sign, no spaces, no prefix), no overflow, at most max. */
static int parse_uint(const char *s, unsigned base, unsigned long long max, unsigned long long *out) {
  unsigned long long value = 0;
  if (*s == '\0') return -1;
  for (; *s != '\0'; s++) {
    unsigned digit = (unsigned)(*s - '0'); /* below '0' wraps to a huge value */
    if (digit >= base || value > (max - digit) / base) return -1;
    value = value * base + digit;
  }
  *out = value;
  return 0;
}

static int parse_nice(const char *s, int *out) {
  int negative = *s == '-';
  unsigned long long magnitude;
  if (parse_uint(s + negative, 10, negative ? 20 : 19, &magnitude) != 0) return -1;
  *out = negative ? -(int)magnitude : (int)magnitude;
  return 0;
}

/* One side of SOFT:HARD, given as s[0..len). */
static int parse_rlim(const char *s, size_t len, rlim_t *out) {
  char buf[24];
  unsigned long long value;
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (strcmp(buf, "unlimited") == 0) {
    *out = RLIM_INFINITY;
    return 0;
  }
  if (parse_uint(buf, 10, (unsigned long long)RLIM_INFINITY - 1, &value) != 0) return -1;
  *out = (rlim_t)value;
  return 0;
}

/* NAME=SOFT:HARD. Returns NULL or the reason it is invalid. */
static const char *parse_rlimit(const char *arg) {
  const char *eq = strchr(arg, '=');
  const char *colon = eq != NULL ? strchr(eq, ':') : NULL;
  struct rlimit_option *opt = NULL;
  if (colon == NULL) return "--rlimit needs NAME=SOFT:HARD";
  for (size_t i = 0; i < RLIMIT_OPTION_COUNT; i++) {
    size_t len = strlen(rlimit_options[i].name);
    if ((size_t)(eq - arg) == len && strncmp(arg, rlimit_options[i].name, len) == 0) {
      opt = &rlimit_options[i];
    }
  }
  if (opt == NULL) return "--rlimit NAME must be one of NOFILE, NPROC, AS, DATA, CPU, CORE";
  if (opt->given) return "--rlimit given twice for one resource";
  if (parse_rlim(eq + 1, (size_t)(colon - eq - 1), &opt->value.rlim_cur) != 0 ||
      parse_rlim(colon + 1, strlen(colon + 1), &opt->value.rlim_max) != 0) {
    return "--rlimit values must be decimal or 'unlimited'";
  }
  /* RLIM_INFINITY is the largest rlim_t, so this also orders 'unlimited'. */
  if (opt->value.rlim_cur > opt->value.rlim_max) return "--rlimit soft limit is above hard limit";
  opt->given = 1;
  return NULL;
}

static int is_env_name(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > MARK_NAME_MAX || (*s >= '0' && *s <= '9')) return 0;
  for (; *s != '\0'; s++) {
    int ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_';
    if (!ok) return 0;
  }
  return 1;
}

/* Stores one option's value. Returns NULL or the reason it is invalid. */
static const char *apply_option(struct options *o, enum option_id id, const char *value) {
  unsigned long long n;
  switch (id) {
    case OPT_STATUS_FD:
      /* 0..2 are the server's stdio, never a status channel. */
      if (parse_uint(value, 10, INT_MAX, &n) != 0 || n < 3) return "--status-fd must be a number >= 3";
      o->status_fd = (int)n;
      return NULL;
    case OPT_CWD:
      if (value[0] != '/') return "--cwd must be an absolute path";
      o->cwd = value;
      return NULL;
    case OPT_LOG_FILE:
      if (value[0] != '/') return "--log-file must be an absolute path";
      o->log_file = value;
      return NULL;
    case OPT_MARK_ENV:
      if (!is_env_name(value)) return "--mark-env must be an environment variable name";
      o->mark_env = value;
      return NULL;
    case OPT_UMASK:
      if (parse_uint(value, 8, 0777, &n) != 0) return "--umask must be octal 0..777";
      o->umask = (mode_t)n;
      return NULL;
    case OPT_NICE:
      if (parse_nice(value, &o->nice) != 0) return "--nice must be an integer in -20..19";
      return NULL;
    case OPT_RLIMIT:
      return parse_rlimit(value);
    case OPT_COUNT:
      break;
  }
  return "unknown option";
}

static enum option_id find_option(const char *name) {
  int id = 0;
  while (id < OPT_COUNT && strcmp(name, option_names[id]) != 0) id++;
  return (enum option_id)id;
}

/* Fills o from argv or exits through usage_error. */
static void parse_options(int argc, char **argv, struct options *o) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    enum option_id id = find_option(argv[i]);
    const char *reason;
    if (id == OPT_COUNT) usage_error(o, "unknown option", argv[i]);
    if (i + 1 >= argc) usage_error(o, "option needs a value", argv[i]);
    if (id != OPT_RLIMIT && (o->seen & (1u << id)) != 0) usage_error(o, "option given twice", argv[i]);
    o->seen |= 1u << id;
    reason = apply_option(o, id, argv[i + 1]);
    if (reason != NULL) usage_error(o, reason, argv[i + 1]);
  }
  if (i >= argc || argv[i + 1] == NULL) usage_error(o, "missing -- EXECUTABLE", NULL);
  o->server_argv = &argv[i + 1];
  if (o->server_argv[0][0] != '/') usage_error(o, "EXECUTABLE must be an absolute path", o->server_argv[0]);
  if (o->cwd == NULL) usage_error(o, "--cwd is required", NULL);
  /* A closed status fd number would be reused by the log file or a pipe. */
  if (fcntl(o->status_fd, F_GETFD) < 0) usage_error(o, "the status fd is not open", NULL);
}

/* ---- reaper setup -------------------------------------------------------- */

static void set_handler(int sig, void (*handler)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  (void)sigaction(sig, &sa, NULL);
}

static void on_sigchld(int sig) { (void)sig; /* only here to interrupt ppoll() */ }

/*
 * SIGCHLD stays blocked except inside ppoll(), so a server exit can never slip
 * in between waitpid(WNOHANG) and ppoll(). Installing a handler also overrides
 * an inherited SIG_IGN, under which the kernel would reap the server for us
 * and its exit status would be lost. *wait_mask is the mask to use in ppoll.
 */
static void catch_sigchld(sigset_t *wait_mask) {
  sigset_t chld;
  set_handler(SIGCHLD, on_sigchld, SA_NOCLDSTOP);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, wait_mask);
  sigdelset(wait_mask, SIGCHLD);
}

/* Files and pipes opened later must never land on 0..2, the server's stdio. */
static void ensure_std_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) (void)open("/dev/null", O_RDWR);
  }
}

/*
 * The server's environment: ours, or with every NAME= entry replaced by
 * mark_slot. The array is allocated once, before fork; the server child
 * writes its pid into mark_slot (fill_mark) without allocating.
 */
static char **server_environment(const struct options *o) {
  size_t count = 0, kept = 0, name_len;
  char **envp;
  if (o->mark_env == NULL) return environ;
  while (environ[count] != NULL) count++;
  envp = malloc((count + 2) * sizeof *envp);
  if (envp == NULL) return NULL;
  name_len = strlen(o->mark_env);
  for (size_t i = 0; i < count; i++) {
    if (strncmp(environ[i], o->mark_env, name_len) == 0 && environ[i][name_len] == '=') continue;
    envp[kept++] = environ[i];
  }
  memcpy(mark_slot, o->mark_env, name_len);
  mark_slot[name_len] = '=';
  mark_value_at = name_len + 1;
  envp[kept++] = mark_slot;
  envp[kept] = NULL;
  return envp;
}

/*
 * O_NONBLOCK only for open(): a FIFO without a reader then fails with ENXIO
 * instead of hanging the spawn. Writes to the log are blocking.
 */
static int open_log(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
  if (fd >= 0 && fcntl(fd, F_SETFL, O_APPEND) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/* ---- server child (between fork and execve: async-signal-safe only) -------- */

struct failure {
  int err;
  int stage;
};

static int fail(struct failure *f, enum stage stage) {
  f->err = errno;
  f->stage = stage;
  return -1;
}

/*
 * stdout and stderr become `out`; everything else except the CLOEXEC
 * exec-error pipe is closed. `out` is made blocking: Node leaves its stderr
 * pipe O_NONBLOCK, and that flag, shared through the open file description,
 * makes servers' writes fail with EAGAIN.
 */
static int setup_server_fds(int out, int err_pipe) {
  int flags;
  if (dup2(out, 1) < 0) return -1;
  if (out != 2 && dup2(out, 2) < 0) return -1;
  /* dup2 clears FD_CLOEXEC, but fd 2 kept as is might still carry it. */
  if (out == 2 && fcntl(2, F_SETFD, 0) < 0) return -1;
  flags = fcntl(1, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) != 0 && fcntl(1, F_SETFL, flags & ~O_NONBLOCK) < 0)) return -1;
  /* err_pipe >= 3 because 0..2 were open when it was created. */
  if (tsss_close_range(3, (unsigned)err_pipe - 1) != 0) return -1;
  return tsss_close_range((unsigned)err_pipe + 1, ~0U);
}

/* The server may only be made nicer than the reaper: lowering is refused
 * with EACCES, as the kernel does for unprivileged callers. */
static int set_nice(int nice) {
  int current;
  errno = 0;
  current = getpriority(PRIO_PROCESS, 0);
  if (current == -1 && errno != 0) return -1;
  if (nice < current) {
    errno = EACCES;
    return -1;
  }
  return setpriority(PRIO_PROCESS, 0, nice);
}

static int apply_rlimits(void) {
  for (size_t i = 0; i < RLIMIT_OPTION_COUNT; i++) {
    if (rlimit_options[i].given && setrlimit(rlimit_options[i].resource, &rlimit_options[i].value) != 0) {
      return -1;
    }
  }
  return 0;
}

static void fill_mark(pid_t pid) {
  struct tsss_line digits = {{0}, 0};
  tsss_line_int(&digits, pid);
  memcpy(mark_slot + mark_value_at, digits.buf, digits.len);
  mark_slot[mark_value_at + digits.len] = '\0';
}

/* Fds come before rlimits: a lowered RLIMIT_NOFILE would otherwise bound
 * tsss_close_range's fallback loop. */
static int prepare_server(const struct options *o, int out, int err_pipe, struct failure *f) {
  if (tsss_reset_signals() != 0) return fail(f, ST_SIGNALS);
  if (setsid() < 0) return fail(f, ST_SETSID);
  if (setup_server_fds(out, err_pipe) != 0) return fail(f, ST_FDS);
  if (chdir(o->cwd) != 0) return fail(f, ST_CHDIR);
  if ((o->seen & (1u << OPT_UMASK)) != 0) umask(o->umask);
  if ((o->seen & (1u << OPT_NICE)) != 0 && set_nice(o->nice) != 0) return fail(f, ST_NICE);
  if (apply_rlimits() != 0) return fail(f, ST_RLIMIT);
  return 0;
}

static _Noreturn void run_server(const struct options *o, char **envp, int out, int err_pipe) {
  struct failure f;
  if (prepare_server(o, out, err_pipe, &f) == 0) {
    if (o->mark_env != NULL) fill_mark(getpid());
    execve(o->server_argv[0], o->server_argv, envp);
    fail(&f, ST_EXEC);
  }
  (void)tsss_write_all(err_pipe, (const char *)&f, sizeof f);
  _exit(127);
}

/* ---- reaper parent ------------------------------------------------------- */

static pid_t wait_child(pid_t pid, int *status, int flags) {
  pid_t rc;
  do {
    rc = waitpid(pid, status, flags);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

/* Reads up to len bytes, stopping early only at EOF. */
static size_t read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n > 0) {
      got += (size_t)n;
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return got;
}

/*
 * Forks and execs the server. The exec-error pipe is CLOEXEC, so EOF without
 * data means execve succeeded. On failure reports E and exits.
 */
static pid_t start_server(const struct options *o, char **envp, int out) {
  int err_pipe[2], status;
  struct failure f;
  size_t got;
  pid_t pid;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) die(o->status_fd, errno, ST_FORK);
  pid = fork();
  if (pid < 0) die(o->status_fd, errno, ST_FORK);
  if (pid == 0) run_server(o, envp, out, err_pipe[1]);
  close(err_pipe[1]);
  got = read_full(err_pipe[0], &f, sizeof f);
  close(err_pipe[0]);
  if (got == 0) return pid;
  if (got != sizeof f) {
    f.err = EIO;
    f.stage = ST_EXEC;
  }
  (void)wait_child(pid, &status, 0);
  die(o->status_fd, f.err, (enum stage)f.stage);
}

/*
 * Reaps exited children: the server (reported with X) and, as subreaper, any
 * orphaned descendant. Blocking mode reaps one. Returns 0 once no child is
 * left (ECHILD), else 1.
 */
static int reap_children(pid_t server, int status_fd, int flags) {
  for (;;) {
    int status;
    pid_t rc = wait_child(-1, &status, flags);
    if (rc < 0) {
      if (errno == ECHILD) return 0;
      die(status_fd, errno, ST_WAIT);
    }
    if (rc == 0) return 1;
    if (rc == server) report_exit(status_fd, server, status);
    if (!(flags & WNOHANG)) return 1;
  }
}

/*
 * Copies one read's worth of server output to every sink. A failing sink
 * (hub gone: EPIPE; disk full) is dropped, but the pipe keeps being drained
 * so the server never blocks on it. Returns 0 at EOF.
 */
static int copy_chunk(int from, int sinks[2]) {
  ssize_t n = read(from, copy_buf, sizeof copy_buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  for (int i = 0; i < 2 && n > 0; i++) {
    if (sinks[i] >= 0 && tsss_write_all(sinks[i], copy_buf, (size_t)n) != 0) sinks[i] = -1;
  }
  return n > 0;
}

/*
 * Waits for the server and, with a log pipe (out_read >= 0), copies its
 * output until EOF. The exit report does not wait for EOF: the server's
 * children may hold the pipe open long after it exits.
 */
static void supervise(pid_t pid, int status_fd, int out_read, int log_fd, const sigset_t *wait_mask) {
  int sinks[2] = {2, log_fd};
  int children = 1;
  while (children || out_read >= 0) {
    struct pollfd pfd;
    int ready;
    if (children) children = reap_children(pid, status_fd, out_read >= 0 ? WNOHANG : 0);
    if (out_read < 0) continue;
    pfd.fd = out_read;
    pfd.events = POLLIN;
    pfd.revents = 0;
    ready = ppoll(&pfd, 1, NULL, children ? wait_mask : NULL);
    /* Should ppoll itself fail (ENOMEM), fall back to a blocking read rather than spin. */
    if ((ready > 0 || (ready < 0 && errno != EINTR)) && !copy_chunk(out_read, sinks)) {
      close(out_read);
      out_read = -1;
    }
  }
}

int main(int argc, char **argv) {
  struct options o;
  sigset_t wait_mask;
  char **envp;
  int log_fd = -1, out_pipe[2] = {-1, -1};
  pid_t pid;

  /* The mediator stops reading the status pipe after "P"; later reports
   * must fail with EPIPE, not kill the reaper. */
  set_handler(SIGPIPE, SIG_IGN, 0);
  memset(&o, 0, sizeof o);
  o.status_fd = 3;
  parse_options(argc, argv, &o);
  ensure_std_fds();

  envp = server_environment(&o);
  if (envp == NULL) die(o.status_fd, ENOMEM, ST_ENV);
  if (o.log_file != NULL) {
    log_fd = open_log(o.log_file);
    if (log_fd < 0 || pipe2(out_pipe, O_CLOEXEC) != 0) die(o.status_fd, errno, ST_LOG_FILE);
  }
  catch_sigchld(&wait_mask);
  /* Orphaned descendants of the server become our children, not PID 1's,
   * which may never reap them. Best effort: old kernels lack it. */
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1);

  pid = start_server(&o, envp, log_fd >= 0 ? out_pipe[1] : 2);
  if (log_fd >= 0) close(out_pipe[1]); /* so that EOF comes when the server side closes */
  report_started(o.status_fd, pid);
  supervise(pid, o.status_fd, out_pipe[0], log_fd, &wait_mask);
  return 0;
}
