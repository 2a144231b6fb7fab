/**
 * A headless Chromium (Debian's `chromium` package; nothing downloads a browser) driven over the
 * Chrome DevTools Protocol with the `ws` package: just what the browser e2e needs (navigate,
 * read the page, type, click, take screenshots).
 *
 * The browser runs in its own process group with a temp profile directory and no network beyond
 * 127.0.0.1; close() kills the whole group and removes the profile.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { withinHangGuard } from "../deadlines.js";
import { waitFor } from "../system.js";

export const CHROMIUM = "chromium";
export const VIEWPORT = { width: 1280, height: 800 } as const;

/** Why the browser tests cannot run here, or undefined. */
export function chromiumMissing(): string | undefined {
  const probe = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? undefined : `no ${CHROMIUM} on PATH (Debian: apt-get install chromium)`;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}

type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

/** One WebSocket to the browser; pages are flat sessions on it. */
class CdpConnection {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: Record<string, unknown>) => void; reject: (error: Error) => void; method: string }>();
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data: WebSocket.RawData) => this.dispatch(JSON.parse(data.toString()) as CdpMessage));
    socket.on("close", () => {
      for (const call of this.pending.values()) call.reject(new Error(`the DevTools connection closed during ${call.method}`));
      this.pending.clear();
    });
  }

  static open(url: string): Promise<CdpConnection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
      socket.once("open", () => resolve(new CdpConnection(socket)));
      socket.once("error", reject);
    });
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(method: string, listener: Listener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): void {
    this.socket.terminate();
  }

  private dispatch(message: CdpMessage): void {
    if (message.id !== undefined) {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
      else call.resolve(message.result ?? {});
      return;
    }
    if (message.method) for (const listener of this.listeners.get(message.method) ?? []) listener(message.params ?? {}, message.sessionId);
  }
}

/** One tab. Its methods wait for what they are about, within `timeoutMs` (a hang guard). */
export class Page {
  constructor(
    private readonly cdp: CdpConnection,
    private readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return withinHangGuard(this.cdp.send(method, params, this.sessionId), `the browser's answer to ${method}`);
  }

  /** Subscribe to an event of this page; returns the unsubscribe function. */
  on(method: string, listener: (params: Record<string, unknown>) => void): () => void {
    return this.cdp.on(method, (params, sessionId) => {
      if (sessionId === this.sessionId) listener(params);
    });
  }

  /** Navigate to `url` and wait for the new document's load event. */
  async goto(url: string): Promise<void> {
    let loaded = false;
    const off = this.on("Page.loadEventFired", () => (loaded = true));
    try {
      const answer = await this.send("Page.navigate", { url });
      if (typeof answer.errorText === "string") throw new Error(`navigating to ${url}: ${answer.errorText}`);
      await waitFor(() => loaded, 60_000, `${url} to load`);
    } finally {
      off();
    }
  }

  /** The value of a JavaScript expression in the page (promises awaited); throws on a page exception. */
  async evaluate<T>(expression: string): Promise<T> {
    const answer = await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    const thrown = answer.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (thrown) throw new Error(`in the page: ${thrown.exception?.description ?? thrown.text ?? "an exception"} (evaluating ${expression.slice(0, 200)})`);
    return (answer.result as { value?: T }).value as T;
  }

  /**
   * Wait until `expression` is truthy in the page, and resolve with its value. Evaluations that
   * fail while a navigation replaces the document are retried.
   */
  async waitFor<T>(expression: string, what: string, timeoutMs = 60_000): Promise<T> {
    let value: T | undefined;
    let lastError = "";
    await waitFor(
      async () => {
        try {
          value = await this.evaluate<T>(expression);
          return Boolean(value);
        } catch (error) {
          lastError = String(error);
          return false;
        }
      },
      timeoutMs,
      what,
    ).catch(async (error: unknown) => {
      const where = await this.evaluate<string>("location.href + '\\n' + document.body.innerText.slice(0, 2000)").catch(() => "?");
      throw new Error(`${String(error)}${lastError ? ` (last error: ${lastError})` : ""}; the page was ${where}`);
    });
    return value as T;
  }

  /** The page's visible text. */
  text(): Promise<string> {
    return this.evaluate<string>("document.body ? document.body.innerText : ''");
  }

  url(): Promise<string> {
    return this.evaluate<string>("location.href");
  }

  /** Focus the element `selector` and type `text` into it (key events, as a person types). */
  async type(selector: string, text: string): Promise<void> {
    await this.waitFor(`!!document.querySelector(${JSON.stringify(selector)})`, `${selector} to appear`);
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).focus()`);
    for (const char of text) {
      await this.send("Input.dispatchKeyEvent", { type: "keyDown", text: char, key: char, unmodifiedText: char });
      await this.send("Input.dispatchKeyEvent", { type: "keyUp", key: char });
    }
  }

  /** A mouse click in the middle of the element `selector` (scrolled into view). */
  async click(selector: string): Promise<void> {
    const box = await this.waitFor<{ x: number; y: number } | null>(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null;
        e.scrollIntoView({ block: "center" }); const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null; })()`,
      `${selector} to be visible`,
    );
    if (!box) throw new Error(`${selector} is not visible`);
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 });
    }
  }

  /** A PNG of the viewport, written to each of `files`. */
  async screenshot(...files: string[]): Promise<void> {
    const { data } = (await this.send("Page.captureScreenshot", { format: "png" })) as { data: string };
    for (const file of files) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, Buffer.from(data, "base64"));
    }
  }
}

export class Browser {
  private constructor(
    private readonly child: ChildProcess,
    private readonly profileDir: string,
    private readonly cdp: CdpConnection,
  ) {}

  /** Start headless Chromium (its own process group) and connect to it. */
  static async launch(): Promise<Browser> {
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-chromium-"));
    const args = [
      "--headless=new",
      "--no-sandbox", // as root, Chromium's sandbox refuses to start
      `--user-data-dir=${profileDir}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0", // the port is written to DevToolsActivePort
      `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
      // Nothing beyond 127.0.0.1: no name resolves, no background traffic.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--no-proxy-server",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-default-apps",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--hide-scrollbars",
      "--mute-audio",
      "about:blank",
    ];
    // TMPDIR: with --disable-dev-shm-usage Chromium keeps its shared memory in TMPDIR's
    // org.chromium.Chromium.* files, which a killed browser never removes; in the profile they go with it.
    const child = spawn(CHROMIUM, args, { detached: true, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, TMPDIR: profileDir } });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const portFile = path.join(profileDir, "DevToolsActivePort");
    try {
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`${CHROMIUM} exited with ${child.exitCode}: ${stderr}`);
          return fs.existsSync(portFile) && fs.readFileSync(portFile, "utf8").split("\n").length >= 2;
        },
        30_000,
        `${CHROMIUM} to listen for DevTools`,
      );
      const [port, browserPath] = fs.readFileSync(portFile, "utf8").split("\n");
      const cdp = await CdpConnection.open(`ws://127.0.0.1:${port}${browserPath}`);
      return new Browser(child, profileDir, cdp);
    } catch (error) {
      killGroup(child);
      fs.rmSync(profileDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The browser's pid (its process group id too). */
  get pid(): number {
    return this.child.pid as number;
  }

  /** A new tab with the 1280x800 viewport. */
  async newPage(): Promise<Page> {
    const { targetId } = (await this.cdp.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.cdp.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this.cdp, sessionId);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Emulation.setDeviceMetricsOverride", { ...VIEWPORT, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  /** Kill the browser's whole process group (renderers, zygote, GPU) and remove its profile. */
  async close(): Promise<void> {
    this.cdp.close();
    killGroup(this.child);
    await waitFor(() => !groupAlive(this.pid), 15_000, `${CHROMIUM}'s process group ${this.pid} to be gone`).catch(() => undefined);
    fs.rmSync(this.profileDir, { recursive: true, force: true });
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Chromium's own temporary files and folders directly under the system's /tmp (none should be left). */
export function chromiumLeftovers(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((entry) => entry.startsWith("org.chromium."));
}

/** Whether any live (non-zombie) process is left in process group `pgid`. */
export function groupAlive(pgid: number): boolean {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}
