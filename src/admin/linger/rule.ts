/**
 * The polkit rule of `ts-sudospawner linger-rule` (pure): members of the spawnable group may
 * enable lingering for themselves only (logind's `set-self-linger`; another user's linger is
 * `set-user-linger`, untouched), so that the mediator can start a never-logged-in user's systemd
 * manager at the first spawn, with no per-user admin step. systemd's own default for that action
 * is yes for everyone (with polkitd); the rule is for sites whose rules close it: polkit asks rule
 * files in name order and takes the first answer, so "60-" comes before a site's later "NO".
 */
export const LINGER_RULE_PATH = "/etc/polkit-1/rules.d/60-ts-sudospawner-linger.rules";
export const SET_SELF_LINGER = "org.freedesktop.login1.set-self-linger";

/** The rule's JavaScript; the group name goes in as a JSON string, so no name can break out of it. */
export function lingerRuleText(group: string): string {
  // U+2028/2029 are line ends in older JavaScript engines: escaped too, though JSON allows them.
  const quoted = JSON.stringify(group).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return [
    "// Written by `ts-sudospawner linger-rule`: members of the group may enable lingering for",
    "// themselves, so that ts-sudospawner can start their systemd manager at a first spawn and cap",
    "// each notebook server in a cgroup of it. Only their own linger (set-self-linger), nothing else.",
    "polkit.addRule(function (action, subject) {",
    `  if (action.id === ${JSON.stringify(SET_SELF_LINGER)} && subject.isInGroup(${quoted})) {`,
    "    return polkit.Result.YES;",
    "  }",
    "});",
    "",
  ].join("\n");
}
