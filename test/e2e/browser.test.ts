/**
 * A person's path through a real JupyterHub 6 (pip venv) with TsSudoSpawner, in a real browser:
 * Debian's headless Chromium, driven over the DevTools Protocol (test/helpers/hub/browser.ts). The
 * login form, the options form with the site policy's launch profiles, the spawn page's progress
 * with the spawner's messages, JupyterLab as the user, and a failed start with its reason.
 *
 * Each step takes a 1280x800 screenshot into /tmp/tsss-browser-screenshots/ (cleared at the start);
 * with TSSS_UPDATE_SCREENSHOTS=1 also into docs/images/ (the walkthrough in docs/hub.md), so CI
 * never changes the tree. Setup and teardown are the e2e matrix's (test/e2e/matrix.ts), for the
 * JupyterHub 6 target only.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Browser, chromiumLeftovers, chromiumMissing, groupAlive, type Page } from "../helpers/hub/browser.js";
import { firstMissing, skipWithout } from "../helpers/prerequisites.js";
import { userInfo, waitFor } from "../helpers/system.js";
import { E2E, E2EContext, expectNoLiveProcess, expectRunsAs, HUB_TARGETS, useHub, type HubTarget } from "./matrix.js";

const fx = inject("rootFixture");
const target = HUB_TARGETS.find((candidate) => candidate.key === "6") as HubTarget;
const skip = skipWithout("browser end-to-end (test/e2e/browser.test.ts)", firstMissing(fx.reason, chromiumMissing()));

const USER = E2E.ann;
const SCREENSHOTS = "/tmp/tsss-browser-screenshots";
const DOC_IMAGES = path.resolve("docs/images");
/** A file the test puts in the user's home: JupyterLab's file browser must list it. */
const HOME_FILE = "welcome-to-the-hub.txt";
/** The exit status of the broken profile's server: the reason the failed start must show. */
const BROKEN_STATUS = 42;
const BROKEN_MESSAGE = "tsss-e2e-broken-server: the course dataset /srv/tsss-e2e-course is not mounted";

async function shot(page: Page, name: string): Promise<void> {
  const files = [path.join(SCREENSHOTS, name)];
  if (process.env.TSSS_UPDATE_SCREENSHOTS === "1") files.push(path.join(DOC_IMAGES, name));
  await page.screenshot(...files);
}

describe.skipIf(skip)(`a person in Chromium on ${target.title} with TsSudoSpawner`, () => {
  const ctx = new E2EContext();
  beforeAll(() => {
    ctx.setup([target], fx.tarball, fx.venvRoot);
  }, 10 * 60_000);
  afterAll(() => {
    ctx.teardown();
  }, 120_000);

  // slow_spawn_timeout 0: the form's POST goes straight to the spawn page, which shows the progress.
  const { hub: getHub } = useHub(ctx, target, "browser", (runtime) =>
    [runtime.spawnerConfig, 'c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}'].join("\n"),
  );

  let browser: Browser | undefined;
  let page: Page;
  let leftoversBefore: string[] = [];
  const profiles: Record<string, { description: string; executable: string; args?: string[] }> = {};

  beforeAll(async () => {
    fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    // A server that cannot start: it says why and exits. Root-owned in the install's bin/, as the
    // mediator requires of a profile's executable.
    const broken = path.join(ctx.installation.binDir, "tsss-e2e-broken-server");
    fs.writeFileSync(broken, `#!/bin/sh\necho ${JSON.stringify(BROKEN_MESSAGE)} >&2\nexit ${BROKEN_STATUS}\n`, { mode: 0o755 });
    profiles.lab = { description: "JupyterLab", executable: path.join(ctx.installation.binDir, "jupyterhub-singleuser"), args: ["--ServerApp.default_url=/lab"] };
    profiles.course = { description: "JupyterLab with the course dataset", executable: broken };
    ctx.policy.write({ profiles });
    const { uid, gid, home } = userInfo(USER);
    fs.writeFileSync(path.join(home, HOME_FILE), `Hello ${USER}: this file is in your home directory.\n`);
    fs.chownSync(path.join(home, HOME_FILE), uid, gid);
    leftoversBefore = chromiumLeftovers();
    browser = await Browser.launch();
    page = await browser.newPage();
  }, 60_000);

  // Only the cleanup here: an assertion failing in a hook would skip the hooks after it (the
  // site policy's restore among them). What the browser leaves behind is checked by test 6.
  afterAll(async () => {
    await browser?.close();
    process.stderr.write(`e2e browser: screenshots in ${SCREENSHOTS}\n`);
  }, 60_000);

  it("1. the login page: the user types name and password into the form and is logged in", async () => {
    const hub = getHub();
    await page.goto(`${hub.base}/hub/login`);
    await page.type("#username_input", USER);
    await page.type("#password_input", hub.userPassword);
    await shot(page, "hub-1-login.png");
    await page.click("#login_submit");
    await page.waitFor("!location.pathname.endsWith('/hub/login') && document.readyState === 'complete'", "the page after the login");
    // The hub's navigation bar names the logged-in user.
    await page.waitFor(`document.body.innerText.includes(${JSON.stringify(USER)})`, `the page to name ${USER}`);
  }, 60_000);

  it("2. the options form offers the site policy's launch profiles; the user picks lab and starts", async () => {
    const hub = getHub();
    if (!(await page.url()).includes("/hub/spawn")) await page.goto(`${hub.base}/hub/spawn`);
    const offered = await page.waitFor<Array<{ value: string; label: string }>>(
      `(() => { const radios = [...document.querySelectorAll("#spawn_form input[name=profile]")];
        return radios.length ? radios.map((r) => ({ value: r.value, label: document.querySelector("label[for='" + r.id + "']").innerText })) : null; })()`,
      "the launch profiles in the options form",
    );
    expect(offered.map((profile) => profile.value).sort()).toEqual(Object.keys(profiles).sort());
    for (const { value, label } of offered) expect(label).toContain(profiles[value]?.description);
    await page.click("label[for='" + (await page.evaluate<string>("document.querySelector('#spawn_form input[value=lab]').id")) + "']");
    expect(await page.evaluate<boolean>("document.querySelector('#spawn_form input[value=lab]').checked")).toBe(true);
    await shot(page, "hub-2-options.png");
  }, 60_000);

  it("3. the spawn page shows the spawner's progress messages; 4. JupyterLab opens as the user, with the file from the user's home", async () => {
    const hub = getHub();
    await page.click("#spawn_form button[type=submit]");
    await page.waitFor("location.pathname.includes('/hub/spawn-pending/')", "the spawn page");
    // The event log opened (a closed <details> hides its text). The spawner's events come while
    // JupyterLab is still starting (it needs seconds to answer HTTP); at "ready" the page leaves.
    const events = await page.waitFor<string[]>(
      `(() => { const details = document.getElementById("progress-details"); if (!details) return null; details.open = true;
        const events = [...document.querySelectorAll("#progress-log .progress-log-event")].map((e) => e.textContent.trim());
        return events.some((text) => /^Server started as pid/.test(text)) ? events : null; })()`,
      "the spawner's progress events on the spawn page",
      90_000,
    );
    await shot(page, "hub-3-progress.png");
    expect(events).toContain(`Asked the mediator to start the server as ${USER} with launch profile lab`);
    const startedPid = Number(/^Server started as pid (\d+)$/m.exec(events.join("\n"))?.[1]);

    await page.waitFor(
      `[...document.querySelectorAll(".jp-DirListing-itemName")].some((e) => e.innerText.trim() === ${JSON.stringify(HOME_FILE)})`,
      `JupyterLab's file browser to list ${HOME_FILE}`,
      120_000,
    );
    expect(await page.url()).toContain(`${hub.serverPrefix(USER)}lab`);
    // JupyterLab's page data names the hub user it serves.
    const pageConfig = await page.evaluate<string>("document.getElementById('jupyter-config-data').textContent");
    expect((JSON.parse(pageConfig) as { hubUser?: string }).hubUser).toBe(USER);
    await page.waitFor("!document.getElementById('jupyterlab-splash')", "JupyterLab's splash screen to go");
    // Two animation frames: the listing painted before the shot.
    await page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 500))))");
    await shot(page, "hub-4-lab.png");

    const server = await hub.server(USER);
    expect(server?.ready).toBe(true);
    expect(server?.state?.pid, "the pid on the spawn page is the server's").toBe(startedPid);
    expectRunsAs(server?.state?.pid, USER);
  }, 180_000);

  it(`5. a profile whose server cannot start: the page shows the failure with its exit status ${BROKEN_STATUS}`, async () => {
    const hub = getHub();
    await hub.stopServer(USER);
    await hub.waitStopped(USER);
    await expectNoLiveProcess(USER);

    await page.goto(`${hub.base}/hub/spawn`);
    await page.click("label[for='" + (await page.waitFor<string>("document.querySelector('#spawn_form input[value=course]')?.id", "the course profile")) + "']");
    await page.click("#spawn_form button[type=submit]");
    // The spawn page (its progress ends "Spawn failed: ...") or the hub's error page, whichever
    // this JupyterHub shows: either way the reason is on it.
    const reason = await page.waitFor<string>(
      `(() => { const text = document.body.innerText; return /failed/i.test(text) && /\\b${BROKEN_STATUS}\\b/.test(text) ? text : ""; })()`,
      `the failed start and its exit status ${BROKEN_STATUS} on the page`,
      90_000,
    );
    await page.evaluate("document.getElementById('progress-details') && (document.getElementById('progress-details').open = true)");
    await shot(page, "hub-5-failed.png");
    expect(reason).toMatch(new RegExp(`\\b${BROKEN_STATUS}\\b`));
    await waitFor(async () => (await hub.server(USER)) === undefined, 30_000, "the failed server to be gone from the hub");
    await expectNoLiveProcess(USER);
    expect(hub.logText, "the server's own message reached the hub's log").toContain(BROKEN_MESSAGE);
  }, 120_000);

  it("6. closing the browser leaves no process of its group and none of its files in /tmp", async () => {
    const open = browser as Browser;
    browser = undefined;
    await open.close();
    expect(groupAlive(open.pid), `a process of Chromium's group ${open.pid} is left`).toBe(false);
    expect(chromiumLeftovers().filter((entry) => !leftoversBefore.includes(entry)), `Chromium's files left in ${os.tmpdir()}`).toEqual([]);
  }, 60_000);
});
