// tsss_native: the parts of the ts-sudospawner mediator that Node cannot do
// safely by itself: fork+exec of tsss-reaper with exact control over fds,
// signals and session, kill(2) of exactly one pid, a pidfd for one pid
// (pidfd_open, pidfd_send_signal) so that a checked process is the one
// signalled, and waitpid(2) of one pid.
//
// Built without C++ exceptions: every failure throws a JS exception and
// returns immediately.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include <napi.h>

#include "tsss_common.h"

namespace {

// Owns one file descriptor so that every early return closes it.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Names for the errnos that spawnReaper can throw, so that the JS side sees
// the usual Node-style `code` (os.constants.errno has the reverse map).
const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSYS: return "ENOSYS";
    default: return nullptr;
  }
}

// strerror_r is the GNU variant under glibc and the XSI one under musl;
// overloading on its return type accepts either.
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "Unknown error";
}
[[maybe_unused]] const char* StrerrorResult(const char* text, const char*) { return text; }

std::string ErrnoText(int err) {
  char buf[256] = {0};
  return StrerrorResult(strerror_r(err, buf, sizeof buf), buf);
}

// Throws a Node-style system error: message, code, errno, syscall.
void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  Napi::Error error =
      Napi::Error::New(env, std::string("spawnReaper: ") + syscall + " failed: " + ErrnoText(err));
  const char* name = ErrnoName(err);
  if (name != nullptr) error.Set("code", name);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", syscall);
  error.ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

// A JS string that can be handed to execve: NUL bytes would silently
// truncate it, so they are rejected.
bool ToCString(Napi::Env env, Napi::Value value, const std::string& what, std::string* out) {
  if (!value.IsString()) {
    ThrowType(env, what + " must be a string");
    return false;
  }
  *out = value.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowType(env, what + " must not contain NUL bytes");
    return false;
  }
  return true;
}

// The NULL-terminated char* vector that execve wants, with its storage.
class CStringArray {
 public:
  // Returns false (with a JS TypeError pending) if value is not an array of
  // valid strings; env entries must also look like NAME=VALUE.
  bool Fill(Napi::Env env, Napi::Value value, const std::string& what, bool is_environment) {
    if (!value.IsArray()) {
      ThrowType(env, what + " must be an array of strings");
      return false;
    }
    Napi::Array array = value.As<Napi::Array>();
    uint32_t length = array.Length();
    strings_.resize(length);
    for (uint32_t i = 0; i < length; i++) {
      std::string item = what + "[" + std::to_string(i) + "]";
      if (!ToCString(env, array.Get(i), item, &strings_[i])) return false;
      if (is_environment && strings_[i].find('=') == std::string::npos) {
        ThrowType(env, item + " must have the form NAME=VALUE");
        return false;
      }
    }
    pointers_.clear();
    for (std::string& s : strings_) pointers_.push_back(&s[0]);
    pointers_.push_back(nullptr);
    return true;
  }

  size_t size() const { return strings_.size(); }
  char* const* data() const { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

// Everything the fork child needs, prepared before fork().
struct ReaperLaunch {
  const char* path;
  char* const* argv;
  char* const* envp;
  int devnull;
  int status;  // write end of the status pipe
  int commit;  // read end of the commit pipe (the reaper's fd 4), or -1
};

// Where the reaper finds the commit pipe; the mediator passes `--commit-fd 4` (spawn/spawn.ts).
constexpr int kCommitFd = 4;
// Sources are first moved to fds >= this, so that dup2() onto 0..4 never overwrites one.
constexpr int kFirstFreeFd = 5;

// Returns fd itself if it is >= floor, else a CLOEXEC duplicate >= floor, so
// that the dup2() calls onto 0..4 below never overwrite a source fd.
int FdAtLeast(int fd, int floor) { return fd >= floor ? fd : fcntl(fd, F_DUPFD_CLOEXEC, floor); }

// Child side, between fork and execve: async-signal-safe calls only, no
// allocation. Returns the failing stage (errno set) or nullptr when ready.
// Updates launch->status whenever the status pipe moves.
const char* PrepareReaperChild(ReaperLaunch* launch) {
  if (tsss_reset_signals() != 0) return "signals";
  if (setsid() < 0) return "setsid";

  int devnull = FdAtLeast(launch->devnull, kFirstFreeFd);
  if (devnull < 0) return "fds";
  int status = FdAtLeast(launch->status, kFirstFreeFd);
  if (status < 0) return "fds";
  launch->status = status;
  int commit = launch->commit < 0 ? -1 : FdAtLeast(launch->commit, kFirstFreeFd);
  if (launch->commit >= 0 && commit < 0) return "fds";

  if (dup2(devnull, 0) < 0) return "stdin";
  // stdout joins stderr: the mediator's stdout carries only its JSON answer.
  if (dup2(2, 1) < 0) return "stdout";
  // Node marks its stdio FD_CLOEXEC; stderr must survive execve.
  if (fcntl(2, F_SETFD, 0) < 0) return "stderr";
  if (dup2(status, 3) < 0) return "status-fd";  // dup2 clears FD_CLOEXEC on 3
  launch->status = 3;
  if (commit >= 0 && dup2(commit, kCommitFd) < 0) return "commit-fd";
  // Also closes the commit pipe's write end: the reaper must see EOF once the mediator is gone.
  if (tsss_close_range(commit >= 0 ? kFirstFreeFd : kCommitFd, ~0U) != 0) return "close-fds";
  return nullptr;
}

[[noreturn]] void RunReaperChild(ReaperLaunch launch) {
  const char* stage = PrepareReaperChild(&launch);
  if (stage == nullptr) {
    execve(launch.path, launch.argv, launch.envp);
    stage = "exec-reaper";
  }
  tsss_report_error(launch.status, errno, stage);
  _exit(127);
}

// fork() rather than vfork()/CLONE_VM: a vfork child shares the parent's
// memory while Node's other threads keep running, and any signal handler
// that fired in it would corrupt the parent. fork's copy-on-write cost is
// negligible for a mediator that spawns once. All signals stay blocked across
// fork so that no Node/libuv handler can run in the child before
// RunReaperChild resets them.
pid_t ForkReaper(const ReaperLaunch& launch) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = fork();
  if (pid == 0) RunReaperChild(launch);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  errno = fork_errno;
  return pid;
}

Napi::Value SpawnReaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  CStringArray argv, envp;
  if (!ToCString(env, info[0], "reaperPath", &path)) return env.Undefined();
  if (!argv.Fill(env, info[1], "argv", false)) return env.Undefined();
  if (!envp.Fill(env, info[2], "env", true)) return env.Undefined();
  if (argv.size() == 0) {
    ThrowType(env, "argv must contain at least argv[0]");
    return env.Undefined();
  }
  if (!info[3].IsUndefined() && !info[3].IsBoolean()) {
    ThrowType(env, "withCommit must be a boolean");
    return env.Undefined();
  }
  bool with_commit = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();

  Fd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (devnull.get() < 0) {
    ThrowErrno(env, errno, "open /dev/null");
    return env.Undefined();
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ThrowErrno(env, errno, "pipe2");
    return env.Undefined();
  }
  Fd status_read(pipe_fds[0]);
  Fd status_write(pipe_fds[1]);
  // The commit pipe: the mediator keeps the write end (CLOEXEC, so no child of ours holds it) and
  // writes one byte once its answer reached the hub; the reaper stops the server at EOF without it.
  Fd commit_read, commit_write;
  if (with_commit) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      ThrowErrno(env, errno, "pipe2");
      return env.Undefined();
    }
    commit_read.reset(pipe_fds[0]);
    commit_write.reset(pipe_fds[1]);
  }

  ReaperLaunch launch = {path.c_str(), argv.data(), envp.data(), devnull.get(), status_write.get(), commit_read.get()};
  pid_t pid = ForkReaper(launch);
  if (pid < 0) {
    ThrowErrno(env, errno, "fork");
    return env.Undefined();
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", static_cast<double>(pid));
  result.Set("statusFd", status_read.release());
  if (with_commit) result.Set("commitFd", commit_write.release());
  return result;  // devnull and the pipes' other ends close here; the child has its own

}

// A pid that names exactly one process: kill(0), kill(-1) and waitpid(-1)
// would reach whole groups or steal libuv's children; 1 is init.
bool GetPid(Napi::Env env, Napi::Value value, pid_t* out) {
  double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::trunc(d) || d <= 1 || d > INT_MAX) {
    ThrowType(env, "pid must be an integer > 1");
    return false;
  }
  *out = static_cast<pid_t>(d);
  return true;
}

bool GetInt(Napi::Env env, Napi::Value value, const char* what, int min, int max, int* out) {
  double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::trunc(d) || d < min || d > max) {
    ThrowType(env, std::string(what) + " must be an integer in " + std::to_string(min) + ".." +
                       std::to_string(max));
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

// The protocol's bound (MAX_SIGNAL in src/protocol/wire.ts), checked again here as a second line;
// test/unit/protocol/bounds.test.ts keeps the two equal.
constexpr int kMaxSignal = 64;

Napi::Value Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid;
  int sig;
  if (!GetPid(env, info[0], &pid)) return env.Undefined();
  if (!GetInt(env, info[1], "sig", 0, kMaxSignal, &sig)) return env.Undefined();
  int rc = kill(pid, sig);
  return Napi::Number::New(env, rc == 0 ? 0 : errno);
}

// pidfd_open(2) (Linux 5.3): a file descriptor that names one process for as
// long as it is open; a pid that is freed and reused never reaches the
// process behind it. Returns the fd (close-on-exec, as pidfd_open always
// makes it), or -errno: -ESRCH (no such process), -EINVAL (not a process,
// e.g. a thread id), -ENOSYS (a kernel without pidfds), -EMFILE...
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid;
  if (!GetPid(env, info[0], &pid)) return env.Undefined();
#ifdef SYS_pidfd_open
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return Napi::Number::New(env, fd >= 0 ? static_cast<double>(fd) : -static_cast<double>(errno));
#else
  return Napi::Number::New(env, -ENOSYS);
#endif
}

// pidfd_send_signal(2) (Linux 5.1) to the process a pidfd names. Returns 0 or
// the errno (ESRCH once that process has exited and been reaped, EPERM for
// another user's process, as kill(2)).
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, sig;
  if (!GetInt(env, info[0], "fd", 0, INT_MAX, &fd)) return env.Undefined();
  if (!GetInt(env, info[1], "sig", 0, kMaxSignal, &sig)) return env.Undefined();
#ifdef SYS_pidfd_send_signal
  long rc = syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0);
  return Napi::Number::New(env, rc == 0 ? 0 : errno);
#else
  return Napi::Number::New(env, ENOSYS);
#endif
}

// close(2) of a descriptor this addon handed out (a pidfd). Returns 0 or the errno.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetInt(env, info[0], "fd", 3, INT_MAX, &fd)) return env.Undefined();
  return Napi::Number::New(env, close(fd) == 0 ? 0 : errno);
}

// prctl(PR_SET_DUMPABLE, 0) on the mediator itself, before it starts a
// server: a process of the same user (the server, during the grace period,
// while the mediator holds the hub's stdout) can then neither ptrace it nor
// open its /proc/PID files. Returns 0 or the errno.
Napi::Value SetNonDumpable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : errno);
}

Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid;
  if (!GetPid(env, info[0], &pid)) return env.Undefined();

  int status = 0;
  pid_t rc;
  do {
    rc = waitpid(pid, &status, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  int wait_errno = errno;
  if (rc == 0) return env.Null();

  Napi::Object result = Napi::Object::New(env);
  result.Set("code", env.Null());
  result.Set("signal", env.Null());
  if (rc < 0) {
    result.Set("errno", wait_errno);
  } else if (WIFEXITED(status)) {
    result.Set("code", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result.Set("signal", WTERMSIG(status));
  }
  return result;
}

// One read of at most `max` bytes from fd (the request on stdin), waiting at
// most timeout_ms for it with poll(2) on the calling thread. A blocking read in
// libuv's thread pool could not be interrupted, and Node's exit waits for that
// thread: a hub that kept stdin open would keep the mediator alive. Returns a
// Buffer (empty at end of input) or a negative errno: -EAGAIN when nothing came
// in time, -EINTR when a signal arrived (the caller lets the event loop run its
// handler, then calls again).
Napi::Value ReadWithin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, max, timeout_ms;
  if (!GetInt(env, info[0], "fd", 0, INT_MAX, &fd) || !GetInt(env, info[1], "max", 1, 1 << 20, &max) ||
      !GetInt(env, info[2], "timeoutMs", 0, INT_MAX, &timeout_ms)) {
    return env.Undefined();
  }
  struct pollfd pfd = {fd, POLLIN, 0};
  int ready = poll(&pfd, 1, timeout_ms);
  if (ready < 0) return Napi::Number::New(env, -errno);
  if (ready == 0) return Napi::Number::New(env, -EAGAIN);
  std::vector<char> buf(static_cast<size_t>(max));
  ssize_t n;
  do {
    n = read(fd, buf.data(), buf.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(env, -errno);
  return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(n));
}

// getgrouplist(3): the groups `name` has by the system's account databases
// (NSS), as initgroups would set them, with `gid` among them. An array of gids,
// or a negative errno. The mediator compares them with its own, which `sudo -P`
// would have replaced by the hub's.
Napi::Value GroupList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int gid;
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "name must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!GetInt(env, info[1], "gid", 0, INT_MAX, &gid)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 8; attempt++) {
    int count = static_cast<int>(groups.size());
    if (getgrouplist(name.c_str(), static_cast<gid_t>(gid), groups.data(), &count) >= 0) {
      Napi::Array result = Napi::Array::New(env, static_cast<size_t>(count));
      for (int i = 0; i < count; i++) result.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[static_cast<size_t>(i)]));
      return result;
    }
    if (count <= static_cast<int>(groups.size())) return Napi::Number::New(env, -ENOENT);
    groups.resize(static_cast<size_t>(count));
  }
  return Napi::Number::New(env, -ERANGE);
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err;
  if (!GetInt(env, info[0], "errno", 0, INT_MAX, &err)) return env.Undefined();
  return Napi::String::New(env, ErrnoText(err));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnReaper", Napi::Function::New(env, SpawnReaper, "spawnReaper"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("setNonDumpable", Napi::Function::New(env, SetNonDumpable, "setNonDumpable"));
  exports.Set("reap", Napi::Function::New(env, Reap, "reap"));
  exports.Set("readWithin", Napi::Function::New(env, ReadWithin, "readWithin"));
  exports.Set("groupList", Napi::Function::New(env, GroupList, "groupList"));
  exports.Set("strerror", Napi::Function::New(env, Strerror, "strerror"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tsss_native, Init)
