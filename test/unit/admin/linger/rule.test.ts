import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { SET_SELF_LINGER, lingerRuleText } from "../../../../src/admin/linger/rule.js";

/** Run the rule as polkitd would: addRule gets a function, asked with an action and a subject. */
function judge(text: string, actionId: string, groups: readonly string[]): unknown {
  let rule: ((action: unknown, subject: unknown) => unknown) | undefined;
  const polkit = { Result: { YES: "yes" }, addRule: (fn: typeof rule) => (rule = fn) };
  vm.runInNewContext(text, { polkit });
  if (!rule) throw new Error("the text added no rule");
  return rule({ id: actionId }, { isInGroup: (group: string) => groups.includes(group) });
}

describe("the polkit linger rule", () => {
  it("lets members of the group enable their own linger, and nothing else", () => {
    const text = lingerRuleText("jupyter users");
    expect(judge(text, SET_SELF_LINGER, ["jupyter users"])).toBe("yes");
    expect(judge(text, SET_SELF_LINGER, ["staff"])).toBeUndefined();
    expect(judge(text, "org.freedesktop.login1.set-user-linger", ["jupyter users"])).toBeUndefined();
  });

  it("holds the group name as a JSON string: quotes and line ends cannot break out", () => {
    const evil = 'x") || true || ("\u2028';
    const text = lingerRuleText(evil);
    expect(judge(text, SET_SELF_LINGER, ["other"])).toBeUndefined();
    expect(judge(text, SET_SELF_LINGER, [evil])).toBe("yes");
    expect(text).not.toContain("\u2028");
  });
});
