/**
 * The VM's directory-service site (issue 18), laid into the guest tree on the host: the Samba AD
 * domain CORP.EXAMPLE.COM provisioned offline with the guest's own samba-tool (chroot: TCG would
 * take minutes for it), its users and the group "Jupyter Users"; on the member side the files of
 * the guide's shape: krb5.conf, resolv.conf naming the DC, an sssd.conf with
 * use_fully_qualified_names and fallback_homedir = /home/%u@%d, and pam_mkhomedir in
 * /etc/pam.d/sudo for the hub's sudo calls, as admin guide section 3 says. The driver (guest/directory.ts) starts the DC in a
 * network namespace, joins with adcli and starts sssd; the guest's own samba units stay masked.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { pamHomeLines } from "../../src/admin/pam-homes.js";
import { AD, GUEST, type AdSecrets } from "./guest/names.js";
import type { Machine } from "./machine.js";

/** A password AD's default complexity rule accepts (three character classes). */
function password(): string {
  return `Tsss-${randomBytes(9).toString("hex")}-A1`;
}

function sssdConf(): string {
  return `# The directory-service site of the VM (test/vm/directory-site.ts): the guide's shape.
[sssd]
domains = ${AD.domain}
services = nss, pam

[domain/${AD.domain}]
id_provider = ad
access_provider = ad
# A test domain's GPOs say nothing about logon rights; permissive only logs what they would deny.
ad_gpo_access_control = permissive
ad_domain = ${AD.domain}
ad_server = ${AD.dcHost}.${AD.domain}
krb5_realm = ${AD.realm}
use_fully_qualified_names = True
fallback_homedir = /home/%u@%d
default_shell = /bin/sh
cache_credentials = False
`;
}

export function layDirectorySite(machine: Machine): AdSecrets {
  const secrets: AdSecrets = { adminPassword: password(), passwords: Object.fromEntries(AD.users.map((user) => [user.sam, password()])) };
  const onDc = ["-H", `${AD.dcDir}/private/sam.ldb`, `--configfile=${AD.dcDir}/etc/smb.conf`];
  machine.chroot(
    [
      "samba-tool", "domain", "provision", "--use-rfc2307", `--realm=${AD.realm}`, `--domain=${AD.netbios}`, "--server-role=dc",
      "--dns-backend=SAMBA_INTERNAL", `--adminpass=${secrets.adminPassword}`, `--targetdir=${AD.dcDir}`, `--host-ip=${AD.dcIp}`, `--host-name=${AD.dcHost}`,
    ],
    "samba-tool domain provision",
  );
  // The provision gives the DC's account only HOST/ names; the DC adds ldap/, GC/ and the others
  // itself when it starts (samba_spnupdate). In one CI run, in TCG on a loaded host, the KDC still
  // did not know ldap/dc1.corp.example.com 5 min after the start, and adcli join needs that ticket
  // first. Done here, offline on the host, as the DC would (0.3 s).
  machine.chroot(["samba_spnupdate", "-s", `${AD.dcDir}/etc/smb.conf`], "samba_spnupdate");
  // New users' passwords expire after 42 days by default: not in an image that lives longer.
  machine.chroot(["samba-tool", "domain", "passwordsettings", "set", "--max-pwd-age=0", ...onDc], "samba-tool domain passwordsettings");
  for (const user of AD.users) machine.chroot(["samba-tool", "user", "create", user.sam, secrets.passwords[user.sam] as string, ...onDc], `samba-tool user create ${user.sam}`);
  machine.chroot(["samba-tool", "group", "add", AD.group, ...onDc], "samba-tool group add");
  machine.chroot(["samba-tool", "group", "addmembers", AD.group, AD.users.map((user) => user.sam).join(","), ...onDc], "samba-tool group addmembers");
  // The DC runs from its own directory in the namespace; the packaged units would start a second one.
  machine.chroot(["systemctl", "mask", "samba-ad-dc.service", "smbd.service", "nmbd.service", "winbind.service"], "mask the packaged samba units");
  // sssd and pam_sss come into play once the host is joined (the driver), as an admin enables them
  // after the join: not at boot without a keytab, where pam_sss's account check could refuse the
  // local users of the parts before.
  machine.chroot(["systemctl", "disable", "sssd.service"], "disable sssd at boot");
  // sssd.conf names its responders (services = nss, pam, as realm writes it; sssd adds pac for
  // AD): Debian's socket units for the same responders then fail to listen and restart in a loop.
  machine.chroot(["systemctl", "mask", ...AD.sssdSockets], "mask sssd's socket-activated responders");
  machine.chroot(["pam-auth-update", "--disable", "sss"], "pam-auth-update --disable sss");

  machine.write("/etc/krb5.conf", `[libdefaults]\n    default_realm = ${AD.realm}\n    dns_lookup_realm = false\n    dns_lookup_kdc = true\n    rdns = false\n`);
  fs.rmSync(machine.hostPath("/etc/resolv.conf"), { force: true });
  machine.write("/etc/resolv.conf", `search ${AD.domain}\nnameserver ${AD.dcIp}\n`);
  machine.write("/etc/sssd/sssd.conf", sssdConf(), 0o600);
  const sudoPam = fs.readFileSync(machine.hostPath("/etc/pam.d/sudo"), "utf8");
  machine.write("/etc/pam.d/sudo", `${sudoPam.trimEnd()}\n${(pamHomeLines(GUEST.hub) as string[]).join("\n")}\n`);
  machine.write(AD.secrets, JSON.stringify(secrets), 0o600);
  machine.write(AD.server, '#!/bin/sh\nid -u > "$HOME/.tsss-ad-uid"\nexec sleep 100000\n', 0o755);
  return secrets;
}
