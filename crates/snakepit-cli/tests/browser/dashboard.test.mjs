// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core.
// Starts `snakepit serve` with a token, signs in through the form, makes calls through the
// API, and checks that the page's numbers change, that an error shows with its traceback,
// and that a SIGKILLed worker shows as exited and replaced. Saves a screenshot under
// target/browser/. Fails (never skips) when Chromium or the binary is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const binary = process.env.SNAKEPIT_BIN || path.join(root, "target/debug/snakepit");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = path.join(root, "target/browser");
const TOKEN = "dashboard-test-token";

/** Starts the server; resolves with its base URL and process once it prints its address. */
function startServer() {
  assert.ok(existsSync(binary), `the snakepit binary is missing: ${binary} (cargo build first)`);
  const child = spawn(binary, ["serve", "--bind", "127.0.0.1:0", "--workers", "2"], {
    env: { ...process.env, SNAKEPIT_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the server did not start in 60 s")), 60_000);
    child.stdout.on("data", (piece) => {
      out += piece;
      const match = out.match(/^listening on (http:\/\/\S+)\n/);
      if (match) {
        clearTimeout(timer);
        resolve({ base: match[1], child });
      }
    });
    child.on("exit", (code) => reject(new Error(`the server exited early with ${code}`)));
  });
}

async function api(base, method, route, body) {
  const response = await fetch(base + route, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
async function until(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("the dashboard shows live pool state in Chromium", { timeout: 120_000 }, async () => {
  assert.ok(existsSync(browserPath), `Chromium is missing at ${browserPath} (apt-get install chromium)`);
  mkdirSync(artifacts, { recursive: true });
  const { base, child } = await startServer();
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  // A fresh profile each run (playwright passes it to Chromium as --user-data-dir).
  const profile = mkdtempSync(path.join(tmpdir(), "snakepit-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1280, height: 1100 },
  });
  try {
    const page = await browser.newPage();
    const outside = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(base)) outside.push(request.url());
    });

    // Without the token: the sign-in form. With it: the dashboard.
    const first = await page.goto(base + "/");
    assert.equal(first.status(), 401);
    await page.fill("#token", TOKEN);
    await Promise.all([page.waitForURL(base + "/"), page.click("#sign-in")]);
    const card = page.locator('[data-pool="default"]');
    await card.waitFor({ timeout: 20_000 });
    await until("the live badge", async () => (await page.textContent("#connection")) === "live");
    await until("two worker rows", async () => (await card.locator("tr[data-pid]").count()) === 2);

    const stat = async (name) => Number(await card.locator(`[data-stat="${name}"]`).textContent());
    const before = await stat("requests");

    // Calls through the API move the numbers.
    for (let i = 0; i < 20; i++) {
      const { status } = await api(base, "POST", "/v1/pools/default/commands/compute",
        { args: { operation: "add", a: i, b: 1 } });
      assert.equal(status, 200);
    }
    const failed = await api(base, "POST", "/v1/pools/default/commands/compute",
      { args: { operation: "divide", a: 1, b: 0 } });
    assert.equal(failed.status, 422);
    await api(base, "PUT", "/v1/pools/default/sessions/browser-session", {});
    await until("requests to grow by 21", async () => (await stat("requests")) >= before + 21);
    await until("the error count", async () => (await stat("errors")) >= 1);
    await until("one session", async () => (await stat("sessions")) === 1);
    const error = card.locator('[data-list="errors"] details').first();
    await error.waitFor();
    assert.match(await error.textContent(), /ZeroDivisionError/);
    await error.locator("summary").click();
    assert.match(await error.locator("pre").textContent(), /Traceback/);
    // Each worker row: pid, state, current command, calls served, RSS, age; no blanks.
    const cells = async (row) => Object.fromEntries(await Promise.all(
      ["pid", "state", "command", "served", "rss", "age"].map(async (name) =>
        [name, (await row.locator(`[data-cell="${name}"]`).textContent()).trim()])));
    const rows = card.locator("tr[data-pid]");
    let served = 0;
    for (let i = 0; i < 2; i++) {
      const row = await cells(rows.nth(i));
      assert.match(row.pid, /^\d+$/);
      assert.equal(row.state, "ready");
      assert.equal(row.command, "idle");
      assert.match(row.served, /^\d+$/);
      assert.match(row.rss, /^\d+\.\d MB$/);
      assert.match(row.age, /^\d+ s$/);
      served += Number(row.served);
    }
    assert.ok(served >= 21, `the rows count the calls served (${served})`);
    // A call in flight shows as its worker's current command.
    const slow = api(base, "POST", "/v1/pools/default/commands/progress",
      { args: { steps: 40, delay_ms: 100 } });
    const busy = card.locator('tr[data-pid]:has([data-cell="command"]:text-is("progress"))');
    await until("the running command on its worker's row", async () => (await busy.count()) === 1);
    assert.equal((await slow).status, 200);
    await until("the worker idle again", async () => (await busy.count()) === 0);

    const p50 = await card.locator('[data-field="p50"]').textContent();
    assert.match(p50, /^p50 \d/, "a latency figure is shown");

    // A SIGKILLed worker shows as exited, and its replacement as started.
    const victim = Number(await card.locator("tr[data-pid]").first().getAttribute("data-pid"));
    process.kill(victim, "SIGKILL");
    await until("the restart", async () => (await stat("restarts")) === 1);
    await until("the victim's row to go", async () =>
      (await card.locator(`tr[data-pid="${victim}"]`).count()) === 0);
    await until("two workers again", async () => (await card.locator("tr[data-pid]").count()) === 2);
    await page.locator(`[data-worker-event="exited"][data-pid="${victim}"]`).waitFor();
    await page.locator('[data-worker-event="started"]').first().waitFor();

    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
    assert.deepEqual(outside, [], "the page fetched nothing from outside the server");
  } finally {
    await browser.close();
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, "the server exits 0 after SIGTERM");
});
