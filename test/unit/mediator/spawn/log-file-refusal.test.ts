import { describe, expect, it } from "vitest";
import { EBADFD, logFileRefusal, type LogFileFacts } from "../../../../src/mediator/spawn/log-file-refusal.js";

const PATH = "/var/log/jh/alice.log";
const facts = (found: LogFileFacts["found"], strerror = "Operation not permitted"): LogFileFacts => ({
  path: PATH,
  user: { name: "alice", uid: 1001 },
  found,
  describeUid: (uid) => (uid === 998 ? "uid 998 (the hub user that called sudo)" : `uid ${uid}`),
  strerror,
});
const FIX = 'remove it, and make its directory sticky (chmod +t) or per-user (e.g. "serverLog": "{home}/.jupyterhub-singleuser.log")';

describe("logFileRefusal: a server log someone else could have planted", () => {
  it("names the path, the other owner and the fix", () => {
    expect(logFileRefusal(1, facts({ uid: 1002, nlink: 1, kind: "file" }))).toBe(
      `could not open the server log file ${PATH}: it is owned by uid 1002, not alice, who could read the server's output (errno 1); ${FIX}`,
    );
    expect(logFileRefusal(1, facts({ uid: 998, nlink: 1, kind: "file" }))).toContain("it is owned by uid 998 (the hub user that called sudo), not alice");
    // Gone again by the time the mediator looks: still the reaper's reason.
    expect(logFileRefusal(1, facts(undefined))).toContain("it is owned by someone else, not alice");
  });

  it("names a second hard link, a symbolic link and what is not a file", () => {
    expect(logFileRefusal(31, facts({ uid: 1001, nlink: 2, kind: "file" }))).toBe(
      `could not open the server log file ${PATH}: it has 2 hard links, and whoever holds another could read the server's output (errno 31); ${FIX}`,
    );
    expect(logFileRefusal(40, facts({ uid: 1002, nlink: 1, kind: "symbolic link" }))).toBe(`could not open the server log file ${PATH}: it is a symbolic link, which is never followed (errno 40); ${FIX}`);
    expect(logFileRefusal(EBADFD, facts({ uid: 1002, nlink: 1, kind: "FIFO" }))).toBe(`could not open the server log file ${PATH}: it is a FIFO, not a regular file (errno 77); ${FIX}`);
    expect(logFileRefusal(21, facts({ uid: 1001, nlink: 2, kind: "directory" }))).toContain("it is a directory, not a regular file (errno 21)");
  });
});

describe("logFileRefusal: open(2)'s own errors", () => {
  it("says what the user must be able to do, or that the directory is missing", () => {
    expect(logFileRefusal(13, facts(undefined, "Permission denied"))).toBe(
      `could not open the server log file ${PATH}: Permission denied (errno 13); alice must be able to create it and append to it: check the owner and mode of its directory, or change "serverLog" in the site policy`,
    );
    expect(logFileRefusal(2, facts(undefined, "No such file or directory"))).toBe(
      `could not open the server log file ${PATH}: No such file or directory (errno 2); its directory does not exist: create it, or change "serverLog" in the site policy`,
    );
  });

  it("names a full filesystem or a used-up quota (the reaper's check that the next byte can be written), with the command that shows it", () => {
    const dir = PATH.slice(0, PATH.lastIndexOf("/"));
    expect(logFileRefusal(28, facts({ uid: 1001, nlink: 1, kind: "file" }, "No space left on device"))).toBe(
      `could not open the server log file ${PATH}: No space left on device (errno 28); its filesystem is full, so the server's output could not be kept: free space (\`df -h ${dir}\`), or change "serverLog" in the site policy`,
    );
    expect(logFileRefusal(122, facts({ uid: 1001, nlink: 1, kind: "file" }, "Disk quota exceeded"))).toContain(`alice's disk quota there is used up, so the server's output could not be kept: free space (\`df -h ${dir}\`, \`quota -u alice\`)`);
  });

  it("does not blame a planter for the user's own file (an immutable one, a link loop further up)", () => {
    expect(logFileRefusal(1, facts({ uid: 1001, nlink: 1, kind: "file" }))).toBe(`could not open the server log file ${PATH}: Operation not permitted (errno 1)`);
    expect(logFileRefusal(40, facts(undefined, "Too many levels of symbolic links"))).toBe(`could not open the server log file ${PATH}: Too many levels of symbolic links (errno 40)`);
  });
});
