/*
 * tsss-reaper: the parent of one Jupyter server for the server's lifetime.
 *
 *   tsss-reaper [OPTIONS] -- EXECUTABLE [ARG...]
 *
 * Starts EXECUTABLE in its own session with a clean signal state, reports
 * "P <pid>" or "E <errno> <stage>" on the status fd, then waits for it and
 * reports "X <code> <signal>". Being the server's parent, it reaps the server
 * even where PID 1 does not reap orphans; as a child subreaper it also reaps
 * the server's orphaned descendants (kernels). Once the server has exited,
 * nothing of its tree may stay: every remaining descendant gets SIGTERM, and
 * after a grace period SIGKILL; the reaper exits when none is left.
 * Its own environment is passed to the server verbatim (the mediator has
 * already filtered it).
 *
 * The server runs with no_new_privs (unless --allow-new-privs), dies with its
 * reaper (PR_SET_PDEATHSIG), and, with --private-tmp or --read-only, in a
 * sandbox: a user namespace mapping only the caller's own uid and gid, and a
 * mount namespace with a fresh tmpfs on /tmp and read-only bind mounts. The
 * reaper itself stays outside it.
 *
 * Writes to the hub's stderr never wait: what does not fit into the pipe of a
 * hub that stopped reading is dropped, so the reaper keeps reaping.
 *
 * With --log-file it also appends the server's output to a file, which must be
 * the user's own (see open_log). With --remove-after it removes files the
 * mediator wrote for this server (its TLS key and certificates) once the
 * server's whole tree has ended, just before it exits.
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
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsss_common.h"

extern char **environ;

/* Where starting the server failed; the names are part of the status protocol. */
enum stage { ST_USAGE, ST_LOG_FILE, ST_ENV, ST_FORK, ST_SIGNALS, ST_SETSID, ST_FDS,
             ST_CHDIR, ST_NICE, ST_RLIMIT, ST_EXEC, ST_WAIT, ST_PARENT, ST_USERNS,
             ST_PRIVATE_TMP, ST_READ_ONLY, ST_NO_NEW_PRIVS };

static const char *const stage_names[] = {
    [ST_USAGE] = "usage",   [ST_LOG_FILE] = "log-file", [ST_ENV] = "env",
    [ST_FORK] = "fork",     [ST_SIGNALS] = "signals",   [ST_SETSID] = "setsid",
    [ST_FDS] = "fds",       [ST_CHDIR] = "chdir",       [ST_NICE] = "nice",
    [ST_RLIMIT] = "rlimit", [ST_EXEC] = "exec",         [ST_WAIT] = "wait",
    [ST_PARENT] = "parent", [ST_USERNS] = "userns",     [ST_PRIVATE_TMP] = "private-tmp",
    [ST_READ_ONLY] = "read-only", [ST_NO_NEW_PRIVS] = "no-new-privs",
};

enum option_id { OPT_STATUS_FD, OPT_CWD, OPT_LOG_FILE, OPT_MARK_ENV, OPT_UMASK, OPT_NICE,
                 OPT_RLIMIT, OPT_ALLOW_NEW_PRIVS, OPT_PRIVATE_TMP, OPT_READ_ONLY,
                 OPT_LEFTOVER_GRACE_MS, OPT_REMOVE_AFTER, OPT_COMMIT_FD, OPT_COUNT };

struct option_spec {
  const char *name;
  int takes_value;
  int repeatable;
};

static const struct option_spec option_specs[OPT_COUNT] = {
    [OPT_STATUS_FD] = {"--status-fd", 1, 0},
    [OPT_CWD] = {"--cwd", 1, 0},
    [OPT_LOG_FILE] = {"--log-file", 1, 0},
    [OPT_MARK_ENV] = {"--mark-env", 1, 0},
    [OPT_UMASK] = {"--umask", 1, 0},
    [OPT_NICE] = {"--nice", 1, 0},
    [OPT_RLIMIT] = {"--rlimit", 1, 1},
    [OPT_ALLOW_NEW_PRIVS] = {"--allow-new-privs", 0, 0},
    [OPT_PRIVATE_TMP] = {"--private-tmp", 0, 0},
    [OPT_READ_ONLY] = {"--read-only", 1, 1},
    [OPT_LEFTOVER_GRACE_MS] = {"--leftover-grace-ms", 1, 0},
    [OPT_REMOVE_AFTER] = {"--remove-after", 1, 1},
    [OPT_COMMIT_FD] = {"--commit-fd", 1, 0},
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

/* Read-only bind mounts in the sandbox: at most this many paths. */
#define READ_ONLY_MAX 64
/* What is left of the server's tree gets this long between SIGTERM and SIGKILL. */
#define DEFAULT_LEFTOVER_GRACE_MS 3000
#define LEFTOVER_GRACE_MAX_MS 600000
/* Files (and their directory) removed when the server's tree has ended: at most this many. */
#define REMOVE_AFTER_MAX 8

struct options {
  int status_fd;
  const char *cwd;
  const char *log_file;
  const char *mark_env;
  mode_t umask;
  int nice;
  unsigned seen; /* bit per enum option_id */
  const char *read_only[READ_ONLY_MAX];
  size_t read_only_count;
  long leftover_grace_ms;
  const char *remove_after[REMOVE_AFTER_MAX];
  size_t remove_after_count;
  int commit_fd; /* -1: the server is final from the start */
  char **server_argv;
};

#define MARK_NAME_MAX 128

/* "NAME=<pid>": allocated statically, completed by the server child itself. */
static char mark_slot[MARK_NAME_MAX + 1 + 20 + 1];
static size_t mark_value_at;

/* One read of server output; at most PIPE_BUF, so a write of it to a pipe is all or nothing. */
static char copy_buf[4096];

/* Our own pid: the server child checks that its parent is still this one. */
static pid_t reaper_pid;

/* ---- writes to the hub's stderr (fd 2) ------------------------------------ */

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

enum hub_kind { HUB_UNKNOWN, HUB_FILE, HUB_NOWAIT, HUB_POLL };
static enum hub_kind hub_kind = HUB_UNKNOWN;

/*
 * A write to fd 2 that never waits for the reader. The hub's pipe is shared
 * with the server (and, in log-file mode, with the mediator and sudo), so
 * O_NONBLOCK, a flag of that shared open file description, is not ours to set
 * in general; RWF_NOWAIT makes just this one write non-blocking. Kernels
 * without RWF_NOWAIT for pipes get a poll() with no timeout first. A regular
 * file never waits for a reader and is written normally. Returns what
 * write(2) returns; EAGAIN means the pipe is full.
 */
static ssize_t hub_write_once(const char *buf, size_t len) {
  if (hub_kind == HUB_UNKNOWN) {
    struct stat st;
    hub_kind = fstat(2, &st) == 0 && S_ISREG(st.st_mode) ? HUB_FILE : HUB_NOWAIT;
  }
#ifdef SYS_pwritev2
  if (hub_kind == HUB_NOWAIT) {
    struct iovec iov;
    ssize_t n;
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    /* Offset -1 (both halves): the current position, as write(2). */
    n = syscall(SYS_pwritev2, 2, &iov, 1, -1L, -1L, RWF_NOWAIT);
    if (n >= 0 || (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)) return n;
    hub_kind = HUB_POLL;
  }
#else
  if (hub_kind == HUB_NOWAIT) hub_kind = HUB_POLL;
#endif
  if (hub_kind == HUB_POLL) {
    struct pollfd pfd;
    pfd.fd = 2;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 0) {
      errno = EAGAIN;
      return -1;
    }
  }
  return write(2, buf, len);
}

/*
 * Writes buf to the hub's stderr without ever waiting: what does not fit is
 * dropped. Returns 0, or -1 when the hub is gone for good (EPIPE, EBADF...).
 */
static int hub_write(const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = hub_write_once(buf, len);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      return 0;
    } else if (n < 0 && errno != EINTR) {
      return -1;
    }
  }
  return 0;
}

/*
 * In log-file mode only the reaper (and, until they exit, the mediator and
 * sudo, which cope with it) write to the hub's pipe: there it is also made
 * O_NONBLOCK, so that not even a kernel without RWF_NOWAIT can block us.
 * Never for a terminal, whose open file description a shell may share.
 */
static void hub_nonblocking(void) {
  struct stat st;
  int flags = fcntl(2, F_GETFL);
  if (flags < 0 || fstat(2, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return;
  (void)fcntl(2, F_SETFL, flags | O_NONBLOCK);
}

/* ---- status reports ------------------------------------------------------ */

static _Noreturn void die(int status_fd, int err, enum stage stage) {
  tsss_report_error(status_fd, err, stage_names[stage]);
  _exit(127);
}

static void say(const char *s) { (void)hub_write(s, strlen(s)); }

static _Noreturn void usage_error(const struct options *o, const char *reason, const char *arg) {
  say("tsss-reaper: ");
  say(reason);
  if (arg != NULL) {
    say(": ");
    say(arg);
  }
  say("\nusage: tsss-reaper [--status-fd N] --cwd DIR [--rlimit NAME=SOFT:HARD]... [--umask OCTAL]"
      " [--nice N] [--mark-env NAME] [--log-file PATH] [--allow-new-privs] [--private-tmp]"
      " [--read-only PATH]... [--leftover-grace-ms N] [--remove-after PATH]... [--commit-fd N] -- EXECUTABLE [ARG...]\n");
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
  (void)hub_write(hub.buf, hub.len);
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

/*
 * A --remove-after path: absolute, strictly below dir (the --cwd, the user's
 * home), and with no empty, "." or ".." component, so that it names what the
 * mediator named and nothing above the home.
 */
static int is_below(const char *path, const char *dir) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  if (len == 1) len = 0; /* dir is "/" */
  if (strncmp(path, dir, len) != 0 || path[len] != '/' || path[len + 1] == '\0') return 0;
  for (const char *p = path + len; *p != '\0';) {
    const char *part = p + 1, *end = part;
    while (*end != '\0' && *end != '/') end++;
    if (end == part || (end - part == 1 && part[0] == '.') || (end - part == 2 && part[0] == '.' && part[1] == '.')) return 0;
    p = end;
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
    case OPT_ALLOW_NEW_PRIVS:
    case OPT_PRIVATE_TMP:
      return NULL; /* flags: o->seen says they were given */
    case OPT_READ_ONLY:
      /* "/" itself cannot be covered by a bind mount its own lookups would see. */
      if (value[0] != '/' || value[1] == '\0') return "--read-only must be an absolute path other than /";
      if (o->read_only_count == READ_ONLY_MAX) return "--read-only given too often (at most 64 paths)";
      o->read_only[o->read_only_count++] = value;
      return NULL;
    case OPT_LEFTOVER_GRACE_MS:
      if (parse_uint(value, 10, LEFTOVER_GRACE_MAX_MS, &n) != 0) return "--leftover-grace-ms must be an integer in 0..600000";
      o->leftover_grace_ms = (long)n;
      return NULL;
    case OPT_REMOVE_AFTER:
      /* Checked against --cwd once every option is known (parse_options). */
      if (o->remove_after_count == REMOVE_AFTER_MAX) return "--remove-after given too often (at most 8 paths)";
      o->remove_after[o->remove_after_count++] = value;
      return NULL;
    case OPT_COMMIT_FD:
      if (parse_uint(value, 10, INT_MAX, &n) != 0 || n < 3) return "--commit-fd must be a number >= 3";
      o->commit_fd = (int)n;
      return NULL;
    case OPT_COUNT:
      break;
  }
  return "unknown option";
}

static enum option_id find_option(const char *name) {
  int id = 0;
  while (id < OPT_COUNT && strcmp(name, option_specs[id].name) != 0) id++;
  return (enum option_id)id;
}

/* Fills o from argv or exits through usage_error. */
static void parse_options(int argc, char **argv, struct options *o) {
  int i = 1;
  while (i < argc && strcmp(argv[i], "--") != 0) {
    enum option_id id = find_option(argv[i]);
    const char *value = NULL, *reason;
    if (id == OPT_COUNT) usage_error(o, "unknown option", argv[i]);
    if (option_specs[id].takes_value) {
      if (i + 1 >= argc) usage_error(o, "option needs a value", argv[i]);
      value = argv[i + 1];
    }
    if (!option_specs[id].repeatable && (o->seen & (1u << id)) != 0) usage_error(o, "option given twice", argv[i]);
    o->seen |= 1u << id;
    reason = apply_option(o, id, value);
    if (reason != NULL) usage_error(o, reason, value);
    i += option_specs[id].takes_value ? 2 : 1;
  }
  if (i >= argc || argv[i + 1] == NULL) usage_error(o, "missing -- EXECUTABLE", NULL);
  o->server_argv = &argv[i + 1];
  if (o->server_argv[0][0] != '/') usage_error(o, "EXECUTABLE must be an absolute path", o->server_argv[0]);
  if (o->cwd == NULL) usage_error(o, "--cwd is required", NULL);
  for (size_t k = 0; k < o->remove_after_count; k++) {
    if (!is_below(o->remove_after[k], o->cwd)) usage_error(o, "--remove-after must be an absolute path below --cwd", o->remove_after[k]);
  }
  /* A closed status fd number would be reused by the log file or a pipe. */
  if (fcntl(o->status_fd, F_GETFD) < 0) usage_error(o, "the status fd is not open", NULL);
  if (o->commit_fd == o->status_fd) usage_error(o, "--commit-fd must differ from the status fd", NULL);
  if (o->commit_fd >= 0 && fcntl(o->commit_fd, F_GETFD) < 0) usage_error(o, "the commit fd is not open", NULL);
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

/* SIGTERM, SIGINT or SIGHUP to the reaper (a scope's stop, shutdown, an admin's kill). */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) { stop_requested = sig; }

/*
 * SIGCHLD stays blocked except inside ppoll(), so a server exit can never slip
 * in between waitpid(WNOHANG) and ppoll(). Installing a handler also overrides
 * an inherited SIG_IGN, under which the kernel would reap the server for us
 * and its exit status would be lost. *wait_mask is the mask to use in ppoll.
 */
static void catch_sigchld(sigset_t *wait_mask) {
  static const int stops[] = {SIGTERM, SIGINT, SIGHUP};
  sigset_t chld;
  set_handler(SIGCHLD, on_sigchld, SA_NOCLDSTOP);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  /* A stop signal is caught the same way: blocked but inside ppoll(), where it ends the wait.
   * Died of at once, the reaper would leave no exit line, and its server would get SIGKILL
   * (PR_SET_DEATHSIG) with no chance to stop, its session's children orphaned to PID 1. */
  for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
    set_handler(stops[i], on_stop_signal, 0);
    sigaddset(&chld, stops[i]);
  }
  sigprocmask(SIG_BLOCK, &chld, wait_mask);
  sigdelset(wait_mask, SIGCHLD);
  for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) sigdelset(wait_mask, stops[i]);
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
 * Anyone who can write the log's directory could have made a file of its name
 * before us, or a link, to read the server's output (or to have it appended to
 * a file of the user's). So an existing file is used only when it is the
 * user's own regular file with exactly one name: judged on the opened fd, so
 * nothing can be swapped in between. A symbolic link is refused by O_NOFOLLOW
 * (ELOOP). The reasons are errno values of the status line: EPERM another
 * owner, EMLINK more than one link, EISDIR or EBADFD not a regular file.
 * Nothing is written to a refused file. A new file is created 0600 (less with
 * the umask). O_NONBLOCK only for open(): a FIFO without a reader then fails
 * with ENXIO instead of hanging the spawn. Writes to the log are blocking.
 */
static int open_log(const char *path) {
  struct stat st;
  int err = 0;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0) {
    err = errno;
  } else if (!S_ISREG(st.st_mode)) {
    err = S_ISDIR(st.st_mode) ? EISDIR : EBADFD;
  } else if (st.st_uid != geteuid()) {
    err = EPERM;
  } else if (st.st_nlink != 1) {
    err = EMLINK;
  } else if (fcntl(fd, F_SETFL, O_APPEND) < 0) {
    err = errno;
  } else if (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, 1) != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
    /* Can the next byte be written? A full disk or a used-up quota refuses the
     * start now, rather than a server whose log stays empty from its first line.
     * KEEP_SIZE: the file's size and content are unchanged. */
    err = errno;
  }
  if (err != 0) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/*
 * After the server's whole tree has ended: removes the --remove-after paths, in
 * the order given (files first, then their directory, which goes only when
 * empty). Never recursive and never through a link: unlink(2) removes a link
 * itself. A path already gone is fine; anything else is said on the hub's log.
 */
static void remove_after(const struct options *o) {
  for (size_t i = 0; i < o->remove_after_count; i++) {
    const char *path = o->remove_after[i];
    int rc = unlink(path);
    if (rc != 0 && errno == EISDIR) rc = rmdir(path);
    if (rc != 0 && errno != ENOENT) {
      struct tsss_line code = {{0}, 0};
      tsss_line_int(&code, errno);
      say("[W tsss-reaper] could not remove ");
      say(path);
      say(" (errno ");
      (void)hub_write(code.buf, code.len);
      say(")\n");
    }
  }
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

/* ---- the sandbox (entered by the server child, before exec) ---------------- */

static int sandboxed(const struct options *o) {
  return (o->seen & (1u << OPT_PRIVATE_TMP)) != 0 || o->read_only_count > 0;
}

/* Writes one short text into a /proc file in a single write(2). */
static int write_proc_file(const char *path, const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  ssize_t n;
  int err;
  if (fd < 0) return -1;
  n = write(fd, text, len);
  err = errno;
  close(fd);
  if (n == (ssize_t)len) return 0;
  errno = n < 0 ? err : EIO;
  return -1;
}

/* "<id> <id> 1\n": the caller's own id, and only it, keeps its number inside. */
static int map_own_id(const char *path, unsigned long id) {
  struct tsss_line line = {{0}, 0};
  tsss_line_int(&line, (long long)id);
  tsss_line_str(&line, " ");
  tsss_line_int(&line, (long long)id);
  tsss_line_str(&line, " 1\n");
  return write_proc_file(path, line.buf, line.len);
}

/* struct mount_attr of <linux/mount.h>, which clashes with <sys/mount.h> on some libcs. */
struct tsss_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
#define TSSS_MOUNT_ATTR_RDONLY 0x00000001
#define TSSS_AT_RECURSIVE 0x8000

/* Flags a less privileged mount namespace may not clear on a mount it inherited. */
#define LOCKED_MOUNT_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)

/*
 * Binds path onto itself, submounts included, and makes the whole tree
 * read-only. Inherited mounts are locked together in our namespace, so
 * nothing in the sandbox can unmount or remount them writable later.
 * Without mount_setattr (Linux < 5.12) only the top mount becomes read-only.
 */
static int bind_read_only(const char *path) {
  struct statfs st;
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
#ifdef SYS_mount_setattr
  {
    struct tsss_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = TSSS_MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, TSSS_AT_RECURSIVE, &attr, sizeof attr) == 0) return 0;
    if (errno != ENOSYS) return -1;
  }
#endif
  if (statfs(path, &st) != 0) return -1;
  return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | ((unsigned long)st.f_flags & LOCKED_MOUNT_FLAGS), NULL);
}

/* Names the step that failed on the hub's log; the status line carries errno and stage. */
static int sandbox_failed(struct failure *f, enum stage stage, const char *what, const char *path) {
  int err = errno;
  say("tsss-reaper: ");
  say(what);
  if (path != NULL) {
    say(" ");
    say(path);
  }
  say("\n");
  errno = err;
  return fail(f, stage);
}

/*
 * A user namespace in which only our own uid and gid are mapped (files keep
 * their owners; no other id, root included, exists inside), and a mount
 * namespace with the read-only paths and a private /tmp. Only the server's
 * tree lives in it: the reaper stays outside, where the server can neither
 * ptrace it nor open its /proc/PID/root (a process in a child user namespace
 * gets no ptrace access to one in the parent), nor can it reach the mediator
 * or any other process of the user that way. The capabilities the namespace
 * grants end at exec, the uid not being 0 inside.
 */
static int enter_sandbox(const struct options *o, struct failure *f) {
  unsigned long uid = (unsigned long)geteuid(), gid = (unsigned long)getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    return sandbox_failed(f, ST_USERNS, "cannot create a user and mount namespace (unprivileged user namespaces disabled?)", NULL);
  }
  /* setgroups must be denied before an unprivileged gid_map; absent before Linux 3.19. */
  if (write_proc_file("/proc/self/setgroups", "deny", 4) != 0 && errno != ENOENT) {
    return sandbox_failed(f, ST_USERNS, "cannot write /proc/self/setgroups", NULL);
  }
  if (map_own_id("/proc/self/uid_map", uid) != 0) return sandbox_failed(f, ST_USERNS, "cannot write /proc/self/uid_map", NULL);
  if (map_own_id("/proc/self/gid_map", gid) != 0) return sandbox_failed(f, ST_USERNS, "cannot write /proc/self/gid_map", NULL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return sandbox_failed(f, ST_USERNS, "cannot make the mounts private", NULL);
  for (size_t i = 0; i < o->read_only_count; i++) {
    if (bind_read_only(o->read_only[i]) != 0) return sandbox_failed(f, ST_READ_ONLY, "cannot make read-only:", o->read_only[i]);
  }
  /* After the read-only paths, so that a read-only parent of /tmp leaves it writable. */
  if ((o->seen & (1u << OPT_PRIVATE_TMP)) != 0 &&
      mount("tsss-private-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    return sandbox_failed(f, ST_PRIVATE_TMP, "cannot mount a private /tmp", NULL);
  }
  return 0;
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
  /* First of all: die with the reaper, which alone reports this server's exit and stops
   * its leftovers. Had the reaper died before this line (the mediator's start timeout
   * kills it with SIGKILL), our parent is already someone else. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return fail(f, ST_PARENT);
  if (getppid() != reaper_pid) _exit(127);
  if (tsss_reset_signals() != 0) return fail(f, ST_SIGNALS);
  if (setsid() < 0) return fail(f, ST_SETSID);
  /* The reaper's non-dumpable state came with fork: the sandbox's user namespace needs our own
   * /proc/self/uid_map, which is root's while we are not dumpable (exec resets it anyway). */
  if (sandboxed(o) && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return fail(f, ST_USERNS);
  if (sandboxed(o) && enter_sandbox(o, f) != 0) return -1;
  if (setup_server_fds(out, err_pipe) != 0) return fail(f, ST_FDS);
  /* In the sandbox's mounts: home may lie under a read-only path. */
  if (chdir(o->cwd) != 0) return fail(f, ST_CHDIR);
  if ((o->seen & (1u << OPT_UMASK)) != 0) umask(o->umask);
  if ((o->seen & (1u << OPT_NICE)) != 0 && set_nice(o->nice) != 0) return fail(f, ST_NICE);
  if (apply_rlimits() != 0) return fail(f, ST_RLIMIT);
  /* Last, right before exec: setuid programs (sudo) then run without their privileges. */
  if ((o->seen & (1u << OPT_ALLOW_NEW_PRIVS)) == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return fail(f, ST_NO_NEW_PRIVS);
  }
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

/* ---- what is left of the server's tree ------------------------------------ */

/* struct linux_dirent64, as getdents64(2) fills it. */
struct dirent64_head {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static long long dents_buf[1024]; /* 8 KiB, aligned for dirent64_head */

/* The parent pid from /proc/PID/stat, or -1 (gone, unreadable). */
static pid_t parent_of(pid_t pid) {
  struct tsss_line path = {{0}, 0};
  char stat[512];
  ssize_t n;
  int fd;
  long long ppid = 0;
  tsss_line_str(&path, "/proc/");
  tsss_line_int(&path, pid);
  tsss_line_str(&path, "/stat");
  path.buf[path.len < sizeof path.buf ? path.len : sizeof path.buf - 1] = '\0';
  fd = open(path.buf, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  do {
    n = read(fd, stat, sizeof stat - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  stat[n] = '\0';
  /* "pid (comm) S ppid ...": comm may hold spaces and ')', so go by the last ')'. */
  {
    char *p = NULL;
    for (char *q = stat; *q != '\0'; q++) {
      if (*q == ')') p = q;
    }
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ') return -1;
    for (p += 4; *p >= '0' && *p <= '9'; p++) ppid = ppid * 10 + (*p - '0');
    if (*p != ' ' || ppid > INT_MAX) return -1;
  }
  return (pid_t)ppid;
}

/* Is pid below us in the process tree? Orphans are reparented to us, never past us. */
static int is_descendant(pid_t pid) {
  for (int depth = 0; depth < 4096 && pid > 1; depth++) {
    pid_t parent = parent_of(pid);
    if (parent == reaper_pid) return 1;
    pid = parent;
  }
  return 0;
}

/*
 * Sends sig to every process below us, found by walking /proc (getdents64:
 * no stdio, no allocation). Returns how many were signalled, or -1 without
 * /proc, where leftovers can only be waited for.
 */
static int signal_descendants(int sig) {
  int found = 0;
  int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, dents_buf, sizeof dents_buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      const struct dirent64_head *d = (const struct dirent64_head *)((const char *)dents_buf + at);
      unsigned long long pid = 0;
      at += d->d_reclen;
      if (parse_uint(d->d_name, 10, INT_MAX, &pid) != 0 || (pid_t)pid == reaper_pid || pid <= 1) continue;
      if (!is_descendant((pid_t)pid) || kill((pid_t)pid, sig) != 0) continue;
      found++;
      /* A stopped process would hold SIGTERM pending until the grace period ends. */
      if (sig == SIGTERM) (void)kill((pid_t)pid, SIGCONT);
    }
  }
  close(fd);
  return found;
}

static struct timespec now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t;
}

static long long ms_until(struct timespec when) {
  struct timespec t = now();
  return (long long)(when.tv_sec - t.tv_sec) * 1000 + (when.tv_nsec - t.tv_nsec) / 1000000;
}

static struct timespec ms_from_now(long ms) {
  struct timespec t = now();
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

/* ---- supervision ---------------------------------------------------------- */

/*
 * The server log file. A failed write (disk full, quota, I/O error) never
 * drops the file for good: what could not be written is counted, the hub is
 * told once, and every later chunk tries again. The first write that works
 * again starts with a line saying how much is missing, on a line of its own.
 */
struct log_sink {
  int fd;                      /* -1: no log file */
  const char *path;
  unsigned long long lost;     /* bytes not written since the last failure */
  int err;                     /* the errno of that failure */
  int at_line_start;           /* the file's last byte is a newline (or it is empty) */
};

/* How often the SIGKILL phase looks again for processes forked meanwhile. */
#define KILL_RESCAN_MS 100

struct supervision {
  pid_t server;
  int status_fd;
  int out_read;       /* the log pipe, or -1 */
  int hub_ok;         /* the hub's stderr, 0 once it is gone for good (EPIPE) */
  struct log_sink log; /* the server log file, if any */
  int children;       /* 0 once waitpid says ECHILD */
  int server_exited;
  int commit_fd;      /* --commit-fd until the commit byte or EOF, then -1 */
  int stopping;       /* no commit came: the server is being stopped */
  int killing;        /* the grace period is over: SIGKILL */
  long grace_ms;
  struct timespec deadline; /* of the grace period */
  struct timespec rescan;   /* next SIGKILL pass */
};

/* The server is gone: SIGTERM to everything it left behind, SIGKILL after the grace period. */
static void server_gone(struct supervision *s) {
  s->server_exited = 1;
  if (signal_descendants(SIGTERM) < 0) {
    say("[W tsss-reaper] cannot read /proc: processes the server left behind are not stopped\n");
    s->grace_ms = -1;
  }
  /* Stopping an uncommitted server already started the grace period. */
  if (!s->stopping) s->deadline = ms_from_now(s->grace_ms > 0 ? s->grace_ms : 0);
}

/* One write, so that the server's output cannot split the line in the hub's log. */
static void say_uncommitted(pid_t server) {
  static const char head[] = "[W tsss-reaper] the hub was never told server pid ";
  static const char tail[] = " (the mediator ended without reporting it): stopping the server and everything it started\n";
  char line[sizeof head + 20 + sizeof tail];
  struct tsss_line pid = {{0}, 0};
  size_t len = sizeof head - 1;
  tsss_line_int(&pid, server);
  memcpy(line, head, len);
  memcpy(line + len, pid.buf, pid.len);
  len += pid.len;
  memcpy(line + len, tail, sizeof tail - 1);
  (void)hub_write(line, len + sizeof tail - 1);
}

/* Stops a server that still runs, and its tree: SIGTERM now, SIGKILL after the grace period. */
static void stop_tree(struct supervision *s) {
  s->stopping = 1;
  /* Without /proc, at least the server itself (not reaped yet, so the pid is still ours). */
  if (signal_descendants(SIGTERM) < 0) (void)kill(s->server, SIGTERM);
  s->deadline = ms_from_now(s->grace_ms > 0 ? s->grace_ms : 0);
}

/*
 * With --commit-fd the server is provisional until the mediator has written
 * its answer (the pid) to the hub and then one byte to this pipe. EOF without
 * that byte means no hub will ever learn this pid: the mediator was killed,
 * could not write its answer, or refused the start after all. Then the whole
 * tree is stopped as after the server's exit: SIGTERM, SIGKILL after the grace.
 */
static void read_commit(struct supervision *s) {
  char byte;
  ssize_t n;
  do {
    n = read(s->commit_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  close(s->commit_fd);
  s->commit_fd = -1;
  /* Until now no process of the user could open our /proc files: see main(). The kill's
   * fallback (ownership.ts) reads /proc/REAPER/exe, so the reaper is dumpable again. */
  (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  if (n == 1 || s->server_exited) return;
  say_uncommitted(s->server);
  stop_tree(s);
}

/* A stop signal: the server and its tree get SIGTERM, SIGKILL after the grace, as after a
 * missing commit; the exit line and --remove-after follow as for any end. */
static void stop_on_signal(struct supervision *s) {
  struct tsss_line line = {{0}, 0};
  tsss_line_str(&line, "[I tsss-reaper] stopping server pid ");
  tsss_line_int(&line, s->server);
  tsss_line_str(&line, " and everything it started: the reaper got signal ");
  tsss_line_int(&line, stop_requested);
  tsss_line_str(&line, "\n");
  (void)hub_write(line.buf, line.len);
  stop_tree(s);
}

/*
 * Reaps every exited child: the server (reported with X) and, as subreaper,
 * any orphaned descendant. Sets children to 0 once none is left (ECHILD).
 */
static void reap_children(struct supervision *s) {
  for (;;) {
    int status;
    pid_t rc = wait_child(-1, &status, WNOHANG);
    if (rc < 0) {
      if (errno != ECHILD) die(s->status_fd, errno, ST_WAIT);
      s->children = 0;
      return;
    }
    if (rc == 0) return;
    if (rc == s->server) {
      report_exit(s->status_fd, s->server, status);
      server_gone(s);
    }
  }
}

/* Writes as much of buf as the file takes; returns how much, with errno set when short. */
static size_t log_write_some(struct log_sink *l, const char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(l->fd, buf + done, len - done);
    if (n > 0) {
      done += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0) errno = ENOSPC; /* a write that takes nothing: treat it as full */
      break;
    }
  }
  if (done > 0) l->at_line_start = buf[done - 1] == '\n';
  return done;
}

static void say_log_path_and_error(const struct log_sink *l, int err) {
  say(l->path);
  say(": ");
  say(strerror(err));
}

/* Before the next chunk after a loss: the line that marks the gap. 0 once it is written. */
static int log_mark_gap(struct log_sink *l) {
  struct tsss_line mark = {{0}, 0};
  if (!l->at_line_start) tsss_line_str(&mark, "\n");
  tsss_line_str(&mark, "[W tsss-reaper] ");
  tsss_line_int(&mark, (long long)l->lost);
  tsss_line_str(&mark, " bytes of server output are missing here (");
  tsss_line_str(&mark, strerror(l->err)); /* why, for `check` reading the log's tail */
  tsss_line_str(&mark, ")\n");
  if (log_write_some(l, mark.buf, mark.len) < mark.len) return -1;
  say("[I tsss-reaper] the server log is written again: ");
  say(l->path);
  say(" (");
  {
    struct tsss_line count = {{0}, 0};
    tsss_line_int(&count, (long long)l->lost);
    (void)hub_write(count.buf, count.len);
  }
  say(" bytes of output are missing there, marked in the file; the hub's log has them)\n");
  l->lost = 0;
  return 0;
}

static void log_chunk(struct log_sink *l, const char *buf, size_t len) {
  size_t done;
  if (l->fd < 0) return;
  if (l->lost > 0 && log_mark_gap(l) != 0) {
    l->lost += len;
    return;
  }
  done = log_write_some(l, buf, len);
  if (done == len) return;
  if (l->lost == 0) {
    l->err = errno;
    say("[W tsss-reaper] cannot write the server log ");
    say_log_path_and_error(l, l->err);
    say("; the server's output goes on in the hub's log only, until the file can be written again\n");
  }
  l->lost += len - done;
}

/*
 * Copies one read's worth of server output to the hub's stderr and the log
 * file. The hub's stderr never blocks us (a full pipe drops the chunk) and is
 * given up once gone (EPIPE); the pipe keeps being drained so the server
 * never blocks on it. Returns 0 at EOF.
 */
static int copy_chunk(int from, int *hub_ok, struct log_sink *log) {
  ssize_t n = read(from, copy_buf, sizeof copy_buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n > 0 && *hub_ok && hub_write(copy_buf, (size_t)n) != 0) *hub_ok = 0;
  if (n > 0) log_chunk(log, copy_buf, (size_t)n);
  return n > 0;
}

/* How long ppoll may sleep: until a signal or output only, until the grace period ends, or
 * until the next SIGKILL pass. */
static const struct timespec *poll_timeout(struct supervision *s, struct timespec *buf) {
  long long ms;
  if (!(s->server_exited || s->stopping) || !s->children || s->grace_ms < 0) return NULL;
  if (!s->killing && ms_until(s->deadline) <= 0) {
    s->killing = 1;
    s->rescan = now();
  }
  if (s->killing && ms_until(s->rescan) <= 0) {
    if (!s->server_exited) (void)kill(s->server, SIGKILL);
    (void)signal_descendants(SIGKILL);
    s->rescan = ms_from_now(KILL_RESCAN_MS);
  }
  ms = ms_until(s->killing ? s->rescan : s->deadline);
  if (ms < 0) ms = 0;
  buf->tv_sec = (time_t)(ms / 1000);
  buf->tv_nsec = (long)(ms % 1000) * 1000000L;
  return buf;
}

/*
 * Waits for the server, then stops what it left behind, and, with a log pipe
 * (out_read >= 0), copies its output until EOF. The exit report waits for
 * neither: the server's children may hold the pipe open long after it exits.
 * SIGCHLD is only unblocked inside ppoll, so no exit slips in between.
 */
static void supervise(struct supervision *s, const sigset_t *wait_mask) {
  for (;;) {
    struct pollfd pfd[2]; /* the log pipe, the commit pipe */
    struct timespec timeout_buf;
    const struct timespec *timeout;
    int ready, poll_failed;
    if (s->children) reap_children(s);
    if (!s->children && s->out_read < 0) return;
    timeout = poll_timeout(s, &timeout_buf);
    pfd[0].fd = s->out_read; /* a negative fd is skipped by ppoll */
    pfd[1].fd = s->commit_fd;
    pfd[0].events = pfd[1].events = POLLIN;
    pfd[0].revents = pfd[1].revents = 0;
    ready = ppoll(pfd, 2, timeout, s->children ? wait_mask : NULL);
    poll_failed = ready < 0 && errno != EINTR;
    if (stop_requested && !s->stopping && !s->server_exited) stop_on_signal(s);
    if (ready > 0 && pfd[1].revents != 0) read_commit(s);
    if (s->out_read < 0) continue;
    /* Should ppoll itself fail (ENOMEM), fall back to a blocking read rather than spin. */
    if (((ready > 0 && pfd[0].revents != 0) || poll_failed) && !copy_chunk(s->out_read, &s->hub_ok, &s->log)) {
      close(s->out_read);
      s->out_read = -1;
    }
  }
}

int main(int argc, char **argv) {
  struct options o;
  struct supervision s;
  sigset_t wait_mask;
  char **envp;
  int log_fd = -1, out_pipe[2] = {-1, -1};
  pid_t pid;

  /* The mediator stops reading the status pipe after "P"; later reports
   * must fail with EPIPE, not kill the reaper. */
  set_handler(SIGPIPE, SIG_IGN, 0);
  memset(&o, 0, sizeof o);
  o.status_fd = 3;
  o.leftover_grace_ms = DEFAULT_LEFTOVER_GRACE_MS;
  o.commit_fd = -1;
  parse_options(argc, argv, &o);
  ensure_std_fds();
  reaper_pid = getpid();

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
  /* Until the commit, no process of the user (the server, as it starts) may open our
   * /proc/PID/fd or ptrace us: through the status fd it could report a pid of its choosing
   * first, through the commit fd commit itself and outlive a mediator that never answered. */
  if (o.commit_fd >= 0) (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  pid = start_server(&o, envp, log_fd >= 0 ? out_pipe[1] : 2);
  if (log_fd >= 0) {
    close(out_pipe[1]); /* so that EOF comes when the server side closes */
    hub_nonblocking();
  }
  report_started(o.status_fd, pid);

  memset(&s, 0, sizeof s);
  s.server = pid;
  s.status_fd = o.status_fd;
  s.out_read = out_pipe[0];
  s.hub_ok = 1;
  s.log.fd = log_fd;
  s.log.path = o.log_file;
  s.log.at_line_start = 1;
  s.children = 1;
  s.commit_fd = o.commit_fd;
  s.grace_ms = o.leftover_grace_ms;
  supervise(&s, &wait_mask);
  remove_after(&o);
  return 0;
}
