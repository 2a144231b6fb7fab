/**
 * The umask a server starts with, and the mediator's own files are made under: what sudo passed,
 * without its owner bits. sudo ORs the invoking user's umask into its own, so a hub could pass
 * 0777: the user could then no longer use what their server creates, and a TLS directory left at
 * mode 000 would break every later start. The group and other bits stay as the hub or the site's
 * sudo set them; they can only make the user's files more private. The policy's "umask" replaces
 * the whole mask in the reaper.
 */

/** The mask without its owner bits (pure). */
export function withOwnerAccess(mask: number): number {
  return mask & 0o077;
}

/** Applies withOwnerAccess to this process's umask (process.umask() without an argument is deprecated: it reads by writing). */
export function keepOwnerAccess(): void {
  const inherited = process.umask(0o077);
  process.umask(withOwnerAccess(inherited));
}
