/**
 * The VM tier's base image: a Debian 12 root file system from mmdebstrap, built once and cached
 * as a tar under a root-owned directory named by a hash of everything that shapes it, so that a
 * second run skips the build (about a minute from Debian's mirror). Only the base lives here; what
 * each run adds (the install, users, units) is laid over it in a fresh tree (machine.ts).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const CACHE_ROOT = "/var/cache/tsss-vm";

/** Everything that shapes the base image; its hash names the cache entry. */
export interface ImageRecipe {
  suite: string;
  variant: string;
  packages: readonly string[];
}

/**
 * Minbase skips Recommends, so dbus and libpam-systemd are named: logind needs the system bus to
 * start the managers of lingering users at boot. util-linux (setpriv) and passwd are in minbase.
 * polkitd: logind asks it whether a never-logged-in user may enable their own linger (the rule of
 * `ts-sudospawner linger-rule`). python3: the JupyterHub venv, built on the host (Debian 12's same
 * /usr/bin/python3), links its python there. The directory-service site (directory-site.ts): the
 * Samba AD DC (samba, samba-ad-provision, samba-dsdb-modules, samba-vfs-modules, winbind), the
 * member's Kerberos, sssd and adcli (krb5-user, sssd-ad, libnss-sss, libpam-sss, adcli), and
 * iproute2 for the DC's network namespace. SELinux, permissive for the whole boot: Debian's
 * reference policy (selinux-policy-default), setfiles to label the tree (policycoreutils),
 * getenforce (selinux-utils), and auditd for `ausearch -m avc`.
 */
export const BASE_RECIPE: ImageRecipe = {
  suite: "bookworm",
  variant: "minbase",
  packages: [
    ...["systemd-sysv", "linux-image-amd64", "udev", "sudo", "procps", "dbus", "libpam-systemd", "polkitd", "python3"],
    ...["samba", "samba-ad-provision", "samba-dsdb-modules", "samba-vfs-modules", "winbind"],
    ...["krb5-user", "sssd-ad", "libnss-sss", "libpam-sss", "adcli", "iproute2"],
    ...["selinux-policy-default", "policycoreutils", "selinux-utils", "auditd"],
  ],
};

/** Raise when the way a cached image is made changes without its recipe changing. */
const IMAGE_FORMAT = 1;

/** The cache key (pure): the order of the package list does not matter. */
export function recipeHash(recipe: ImageRecipe): string {
  const canonical = JSON.stringify({ format: IMAGE_FORMAT, suite: recipe.suite, variant: recipe.variant, packages: [...recipe.packages].sort() });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export interface BaseImage {
  tar: string;
  /** False when this call built it. */
  cached: boolean;
}

/** The cached base tar for `recipe`, built first when missing (`log` says so before the build). */
export function ensureBaseImage(recipe: ImageRecipe = BASE_RECIPE, log: (line: string) => void = () => undefined): BaseImage {
  const dir = path.join(CACHE_ROOT, recipeHash(recipe));
  const tar = path.join(dir, "base.tar");
  if (fs.existsSync(tar)) return { tar, cached: true };
  log(`building the base image with mmdebstrap from Debian's mirror (1-4 minutes, once: cached as ${tar})`);
  fs.mkdirSync(CACHE_ROOT, { recursive: true, mode: 0o700 });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const partial = `${tar}.partial`;
  fs.rmSync(partial, { force: true }); // an interrupted build's
  // --format: mmdebstrap guesses the format from the file name, and "x.tar.partial" is not a tar name.
  const result = spawnSync(
    "mmdebstrap",
    [`--variant=${recipe.variant}`, "--format=tar", `--include=${recipe.packages.join(",")}`, recipe.suite, partial],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) {
    fs.rmSync(partial, { force: true });
    const tail = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-20).join("\n");
    throw new Error(`mmdebstrap could not build the VM image (status ${result.status}, ${result.error?.message ?? "no spawn error"}):\n${tail}`);
  }
  // A finished image appears whole or not at all: an interrupted build leaves only the .partial.
  fs.renameSync(partial, tar);
  // Images of other recipes are outdated now: keep the cache to one image (about 700 MB).
  for (const entry of fs.readdirSync(CACHE_ROOT)) {
    if (entry !== path.basename(dir)) fs.rmSync(path.join(CACHE_ROOT, entry), { recursive: true, force: true });
  }
  return { tar, cached: false };
}
