import { describe, expect, it } from "vitest";
import { singleUserAdvice } from "../../../../src/admin/host/singleuser-link.js";

const DIR = "/opt/ts-sudospawner/bin";
const venv = { path: "/opt/jupyterhub/bin/jupyterhub-singleuser", resolved: "/opt/jupyterhub/bin/jupyterhub-singleuser" };

describe("singleUserAdvice", () => {
  it("prints the exact ln -s of the venv's server when nothing is linked", () => {
    expect(singleUserAdvice({ dir: DIR, expected: venv })?.commands).toEqual(["ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser"]);
  });

  it("makes the documented venv first when it does not exist", () => {
    expect(singleUserAdvice({ dir: DIR, expected: { ...venv, resolved: undefined } })?.commands).toEqual([
      "/usr/bin/python3 -m venv /opt/jupyterhub",
      "/opt/jupyterhub/bin/pip install jupyterhub jupyterlab",
      "ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser",
    ]);
  });

  it("makes the site's own venv (--venv) when it does not exist, quoting what needs it", () => {
    const own = { path: "/srv/jupyter hub/bin/jupyterhub-singleuser", resolved: undefined };
    expect(singleUserAdvice({ dir: DIR, expected: own })?.commands).toEqual([
      "/usr/bin/python3 -m venv '/srv/jupyter hub'",
      "'/srv/jupyter hub/bin/pip' install jupyterhub jupyterlab",
      "ln -s '/srv/jupyter hub/bin/jupyterhub-singleuser' /opt/ts-sudospawner/bin/jupyterhub-singleuser",
    ]);
  });

  it("replaces a link to Debian's JupyterHub with the venv's", () => {
    const advice = singleUserAdvice({ dir: DIR, expected: venv, found: { path: `${DIR}/jupyterhub-singleuser`, resolved: "/usr/bin/jupyterhub-singleuser" } });
    expect(advice?.problem).toContain("resolves to /usr/bin/jupyterhub-singleuser, not to the venv's /opt/jupyterhub/bin/jupyterhub-singleuser");
    expect(advice?.commands).toEqual(["ln -sfn /opt/jupyterhub/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser"]);
  });

  it("says nothing when the link is the venv's, or a site wrapper is there", () => {
    expect(singleUserAdvice({ dir: DIR, expected: venv, found: { path: `${DIR}/jupyterhub-singleuser`, resolved: venv.resolved } })).toBeUndefined();
    expect(singleUserAdvice({ dir: DIR, expected: venv, found: { path: `${DIR}/sudospawner-singleuser`, resolved: "/srv/wrap" } })).toBeUndefined();
  });

  it("follows the policy's singleuser instead of the link", () => {
    const advice = singleUserAdvice({ dir: DIR, expected: venv, policySingleUser: { path: "/usr/local/bin/jupyterhub-singleuser", exists: false } });
    expect(advice?.commands).toEqual(["ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /usr/local/bin/jupyterhub-singleuser"]);
  });
});
