/**
 * One VM boot for the VM tier: lay a run's files over the cached base image in a fresh tree
 * (the packed ts-sudospawner installed as an admin does, the host's Node, users, the sudoers rule
 * from `ts-sudospawner sudoers`, units, a driver), turn it into a disk with `mkfs.ext4 -d` (no loop
 * device), boot it with qemu TCG, and collect what the driver reports on the second serial port:
 * one JSON object per line. Everything lives in one temp dir that dispose() removes, with qemu.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { installDemoSingleUser, installTarball } from "../helpers/install.js";

/** A bundle in ESM that holds CommonJS packages (ws) needs a require of its own. */
const ESM_REQUIRE = 'import { createRequire as __tsssCreateRequire } from "node:module"; const require = __tsssCreateRequire(import.meta.url);';

/** The SELinux policy the guest loads, permissive: Debian's reference policy. */
export const SELINUX_POLICY = "default";

/** A clean environment for the tools run on the tree (no proxy, CA or Node settings); in the chroot, /usr/local/bin has the guest's node. */
const TOOL_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

function must(file: string, args: readonly string[], what: string): string {
  const result = spawnSync(file, args, { encoding: "utf8", env: TOOL_ENV, maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`${what} failed (${file} ${args.join(" ")}: status ${result.status}, ${result.error?.message ?? ""}):\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

export interface GuestUser {
  name: string;
  groups?: readonly string[];
  /** logind starts this user's systemd manager at boot (/var/lib/systemd/linger/NAME). */
  linger?: boolean;
}

export interface DriverReport {
  check: string;
  [fact: string]: unknown;
}

export interface BootResult {
  reports: DriverReport[];
}

/**
 * The console's last lines before the power-off, for error messages: what went wrong is printed
 * before systemd-shutdown's own fifty lines of unmounting.
 */
function tail(file: string, lines = 40): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8").replaceAll("\r", "");
  } catch {
    return "(no console log)";
  }
  const all = text.trimEnd().split("\n");
  const shutdown = all.findIndex((line) => line.includes("systemd-shutdown["));
  const kept = shutdown === -1 ? all : all.slice(0, shutdown);
  return kept.slice(-lines).join("\n");
}

/** The driver's lines (pure): serial output has \r\n line ends; a line that is not JSON is an error. */
export function parseReports(text: string): DriverReport[] {
  return text
    .replaceAll("\r", "")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const value = JSON.parse(line) as unknown;
      if (typeof value !== "object" || value === null || typeof (value as { check?: unknown }).check !== "string") {
        throw new Error(`the driver reported a line without "check": ${line}`);
      }
      return value as DriverReport;
    });
}

export class Machine {
  readonly dir: string;
  readonly root: string;
  private qemu: ChildProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.root = path.join(dir, "root");
  }

  /** A fresh tree from the cached base tar, with a machine id (empty means "first boot") and an fstab. */
  static fromBase(baseTar: string): Machine {
    const machine = new Machine(fs.mkdtempSync(path.join(os.tmpdir(), "tsss-vm-")));
    fs.mkdirSync(machine.root);
    must("tar", ["-x", "-f", baseTar, "-C", machine.root], "unpacking the base image");
    machine.write("/etc/machine-id", `${randomBytes(16).toString("hex")}\n`);
    machine.write("/etc/fstab", "/dev/vda / ext4 defaults 0 1\n");
    machine.write("/etc/hostname", "tsss-vm\n");
    // sudo resolves the host name; without this it warns on every call.
    machine.write("/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\ttsss-vm\n");
    // SELinux on, permissive: every denial of the whole boot is logged and nothing is stopped, so one
    // boot lists all that enforcing would deny (enforcing stops a flow at its first denial).
    machine.write("/etc/selinux/config", `SELINUX=permissive\nSELINUXTYPE=${SELINUX_POLICY}\n`);
    return machine;
  }

  private guestPath(file: string): string {
    if (!path.isAbsolute(file)) throw new Error(`guest paths are absolute: ${file}`);
    return path.join(this.root, file);
  }

  /** Where a guest path is in the tree on the host, for tools that build into it before the boot. */
  hostPath(file: string): string {
    return this.guestPath(file);
  }

  /** A root-owned file in the guest (parents created 0755). */
  write(file: string, content: string | Buffer, mode = 0o644): void {
    const target = this.guestPath(file);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, content, { mode });
    fs.chmodSync(target, mode);
  }

  /** A program run inside the tree (chroot), for tools that must see the guest's users and files. */
  chroot(args: readonly string[], what: string): string {
    return must("chroot", [this.root, ...args], what);
  }

  /** Like chroot(), with `input` on the program's stdin (chpasswd). */
  chrootInput(args: readonly string[], input: string, what: string): void {
    const result = spawnSync("chroot", [this.root, ...args], { input, encoding: "utf8", env: TOOL_ENV });
    if (result.status !== 0) throw new Error(`${what} failed (chroot ${args.join(" ")}: status ${result.status}):\n${result.stdout}${result.stderr}`);
  }

  /** The host's Node at /usr/local/bin/node: first on sudo's secure_path, where `#!/usr/bin/env node` finds it. */
  putNode(execPath: string): void {
    this.write("/usr/local/bin/node", fs.readFileSync(fs.realpathSync(execPath)), 0o755);
  }

  /**
   * The packed tarball installed as the README says (npm install -g --prefix), straight at its real
   * path in the tree, root-owned; the demo server next to the mediator as jupyterhub-singleuser.
   */
  installPackage(tarball: string, prefix: string): void {
    const installation = installTarball(tarball, this.guestPath(prefix));
    installDemoSingleUser(installation);
  }

  addUsers(users: readonly GuestUser[], groups: readonly string[]): void {
    for (const group of groups) must("groupadd", ["-R", this.root, group], `groupadd ${group}`);
    for (const user of users) {
      const extra = user.groups && user.groups.length > 0 ? ["-G", user.groups.join(",")] : [];
      must("useradd", ["-R", this.root, "-m", "-U", "-s", "/bin/sh", ...extra, user.name], `useradd ${user.name}`);
      if (user.linger) this.write(`/var/lib/systemd/linger/${user.name}`, "");
    }
  }

  /** A guest directory owned by a guest user (chown resolves the name in the guest). */
  ownedDir(dir: string, owner: string, mode = 0o755): void {
    fs.mkdirSync(this.guestPath(dir), { recursive: true, mode });
    this.chroot(["chown", `${owner}:${owner}`, dir], `chown ${dir}`);
  }

  /** A unit enabled for multi-user.target, as `systemctl enable` would link it. */
  enableUnit(name: string, text: string): void {
    this.write(`/etc/systemd/system/${name}`, text);
    const link = this.guestPath(`/etc/systemd/system/multi-user.target.wants/${name}`);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(`../${name}`, link);
  }

  /** A TypeScript guest script, bundled for the guest's Node, at `guestFile`. */
  async bundle(entry: string, guestFile: string): Promise<void> {
    const outfile = this.guestPath(guestFile);
    // ws's optional native speed-ups are absent: left as requires it tries and survives.
    await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "error", external: ["bufferutil", "utf-8-validate"], banner: { js: ESM_REQUIRE } });
    fs.chmodSync(outfile, 0o644);
  }

  /**
   * The driver: a oneshot after multi-user.target whose end (success or failure) powers the guest
   * off, so qemu exits. Its output goes to the console log too, for the error on a deadline.
   */
  installDriver(guestScript: string): void {
    this.enableUnit(
      "tsss-vm-driver.service",
      [
        "[Unit]",
        "Description=ts-sudospawner VM test driver",
        "After=multi-user.target",
        // The reports are already out on the serial port: no need to stop every unit cleanly.
        "SuccessAction=poweroff-force",
        "FailureAction=poweroff-force",
        "[Service]",
        "Type=oneshot",
        `ExecStart=/usr/local/bin/node ${guestScript}`,
        "StandardOutput=journal+console",
        "StandardError=journal+console",
        "TimeoutStartSec=15min",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
      ].join("\n"),
    );
  }

  /**
   * An SELinux policy module loaded into the guest's policy store, as `semodule -i FILE` would on the
   * host itself (`-n`: nothing to reload here). Under TCG the policy's rebuild would take minutes at
   * boot; here it takes seconds. The store's tools want a /proc, as setfiles does (label()).
   */
  loadPolicyModule(guestFile: string): void {
    const script = 'mount -t proc proc "$1/proc" && exec chroot "$1" semodule -n -i "$2"';
    must("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", this.root, guestFile], `loading the SELinux policy module ${guestFile} (semodule -i)`);
  }

  /**
   * Every file labelled as the policy's file contexts say, as `fixfiles relabel` would at a first
   * boot (which would take minutes under TCG and a second boot). libselinux sets the labels through
   * /proc/self/fd, so the tree gets a /proc of its own in a private mount namespace, gone with it.
   * The host kernel needs no SELinux: it stores security.selinux as it is, and mkfs.ext4 -d copies it.
   */
  private label(): void {
    const contexts = `/etc/selinux/${SELINUX_POLICY}/contexts/files/file_contexts`;
    const script = 'mount -t proc proc "$1/proc" && exec chroot "$1" setfiles -F -e /proc -e /sys -e /dev "$2" /';
    must("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", this.root, contexts], "labelling the tree for SELinux (setfiles)");
  }

  /** The tree, labelled, as an ext4 disk; the kernel and initrd are copied out, and the tree removed. */
  makeDisk(): void {
    this.label();
    const boot = fs.readdirSync(path.join(this.root, "boot"));
    const kernel = boot.find((name) => name.startsWith("vmlinuz-"));
    const initrd = boot.find((name) => name.startsWith("initrd.img-"));
    if (!kernel || !initrd) throw new Error(`the image has no kernel or initrd in /boot: ${boot.join(" ")}`);
    fs.copyFileSync(path.join(this.root, "boot", kernel), path.join(this.dir, "vmlinuz"));
    fs.copyFileSync(path.join(this.root, "boot", initrd), path.join(this.dir, "initrd.img"));
    const disk = path.join(this.dir, "disk.img");
    fs.writeFileSync(disk, "");
    fs.truncateSync(disk, 5 * 1024 ** 3);
    must("mkfs.ext4", ["-q", "-F", "-d", this.root, disk], "mkfs.ext4 -d");
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * Boot with qemu TCG (/dev/kvm here needs a special guest kernel) and wait for the guest to
   * power off. Past `deadlineMs` qemu is killed and the error carries the console's tail. With
   * `progress`, a line every minute says how long it has run and which checks the driver reported.
   */
  boot(deadlineMs: number, progress?: (line: string) => void): Promise<BootResult> {
    const consoleLog = path.join(this.dir, "console.log");
    const resultsLog = this.resultsLog();
    const args = [
      ...["-accel", "tcg", "-m", "3072", "-smp", "2", "-display", "none", "-monitor", "none", "-no-reboot"],
      ...["-serial", `file:${consoleLog}`, "-serial", `file:${resultsLog}`],
      ...["-kernel", path.join(this.dir, "vmlinuz"), "-initrd", path.join(this.dir, "initrd.img")],
      // Debian's kernel starts AppArmor unless told otherwise.
      ...["-append", "root=/dev/vda rw console=ttyS0 security=selinux selinux=1 enforcing=0"],
      ...["-drive", `file=${path.join(this.dir, "disk.img")},format=raw,if=virtio,cache=unsafe`],
    ];
    const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"], env: TOOL_ENV });
    this.qemu = qemu;
    let stderr = "";
    qemu.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise<BootResult>((resolve, reject) => {
      // Past the deadline qemu is killed; the error comes once it has exited, so nothing is left running.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        qemu.kill("SIGKILL");
      }, deadlineMs);
      const started = Date.now();
      // A failed check is told at once, with its error: a CI log that keeps only its last lines
      // then still shows why the tier failed.
      const told = new Set<string>();
      const heartbeat = progress
        ? setInterval(() => {
            const reports = this.reportsSoFar();
            const checks = reports.map((report) => (report.error === undefined ? report.check : `${report.check} (FAILED)`));
            progress(`${Math.round((Date.now() - started) / 1000)} s since qemu started; the driver reported ${checks.length ? checks.join(", ") : "nothing yet"}`);
            for (const report of reports) {
              if (report.error === undefined || told.has(report.check)) continue;
              told.add(report.check);
              progress(`the driver's "${report.check}" check FAILED: ${String(report.error).slice(0, 1500)}`);
            }
          }, 60_000)
        : undefined;
      qemu.on("exit", () => clearInterval(heartbeat));
      qemu.on("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`qemu-system-x86_64 did not start: ${error.message}`));
      });
      qemu.on("exit", (code, signal) => {
        clearTimeout(timer);
        this.qemu = undefined;
        if (timedOut) {
          reject(new Error(`the VM did not power off within ${deadlineMs / 1000} s; its console ended with:\n${tail(consoleLog)}`));
          return;
        }
        if (code !== 0) {
          reject(new Error(`qemu exited with ${code ?? signal}: ${stderr.trim()}\nconsole:\n${tail(consoleLog)}`));
          return;
        }
        try {
          resolve({ reports: parseReports(fs.readFileSync(resultsLog, "utf8")) });
        } catch (error) {
          reject(new Error(`${String(error)}\nconsole:\n${tail(consoleLog)}`));
        }
      });
    });
  }

  /** Where qemu writes the second serial port (the driver's reports). */
  private resultsLog(): string {
    return path.join(this.dir, "results.log");
  }

  /** The reports written so far, while the guest runs (for progress): complete lines only. */
  reportsSoFar(): DriverReport[] {
    let text: string;
    try {
      text = fs.readFileSync(this.resultsLog(), "utf8");
    } catch {
      return [];
    }
    try {
      return parseReports(text.slice(0, text.lastIndexOf("\n") + 1));
    } catch {
      return [];
    }
  }

  /** The console log's tail, for a failing assertion's message. */
  consoleTail(lines = 60): string {
    return tail(path.join(this.dir, "console.log"), lines);
  }

  /** Kill qemu if it still runs, remove the temp dir. */
  dispose(): void {
    if (this.qemu && this.qemu.exitCode === null) this.qemu.kill("SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
