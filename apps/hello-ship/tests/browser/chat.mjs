// Drives the hello-ship chat page in Debian's Chromium through playwright-core.
//
// Usage: node chat.mjs SCENARIO BASE_URL SCREENSHOT_DIR
//
// tests/browser.rs starts the server and runs one scenario per call. This
// script writes one JSON object per line on stdout: {"type": "stopped", ...}
// when it needs the Rust side to check the server log (it then waits for a
// line on stdin), and {"type": "result", ...} last. A failed check exits 1
// with the reason on stderr.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

const CHROMIUM = process.env.HELLO_SHIP_CHROMIUM || "/usr/bin/chromium";
// Limits for single steps and for the whole run, so a hung browser or server
// fails the test instead of stalling it.
const STEP_TIMEOUT_MS = 15_000;
const RUN_TIMEOUT_MS = 90_000;

const [scenarioName, baseUrl, screenshotDir] = process.argv.slice(2);
if (!scenarioName || !baseUrl || !screenshotDir) {
  console.error("usage: node chat.mjs SCENARIO BASE_URL SCREENSHOT_DIR");
  process.exit(2);
}

const watchdog = setTimeout(() => {
  console.error(`scenario ${scenarioName} did not finish within ${RUN_TIMEOUT_MS} ms`);
  process.exit(3);
}, RUN_TIMEOUT_MS);

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

// Waits for the Rust side's reply to a message: "ok" or a failure reason.
async function awaitReply() {
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error("no reply on stdin within 10 s")), 10_000).unref(),
  );
  const { value, done } = await Promise.race([stdinLines.next(), timeout]);
  assert.ok(!done, "stdin closed before the reply");
  assert.equal(value.trim(), "ok", "the server-side check failed");
}

// --- Page helpers --------------------------------------------------------------

const LAST_ANSWER = "#transcript li.assistant:last-child";

async function sendMessage(page, text) {
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
}

// Waits until the last answer is in `state` and returns what it shows.
async function waitForState(page, state) {
  await page.waitForSelector(`${LAST_ANSWER}[data-state="${state}"]`);
  return readAnswer(page);
}

async function readAnswer(page) {
  return page.evaluate((selector) => {
    const turn = document.querySelector(selector);
    const visible = (element) => element !== null && !element.hidden;
    return {
      state: turn.dataset.state,
      busy: turn.getAttribute("aria-busy"),
      requestId: turn.dataset.requestId || null,
      incidentId: turn.dataset.incidentId || null,
      text: turn.querySelector(".answer").textContent,
      answerChildElements: turn.querySelector(".answer").childElementCount,
      banner: visible(turn.querySelector(".banner")) ? turn.querySelector(".banner").textContent : null,
      bannerRole: turn.querySelector(".banner").getAttribute("role"),
      degraded: visible(turn.querySelector(".notice.degraded"))
        ? turn.querySelector(".notice.degraded").textContent
        : null,
      stoppedNotice: visible(turn.querySelector(".notice.stopped")),
      ttft: turn.querySelector(".ttft").textContent,
      cost: turn.querySelector(".cost").textContent,
      usage: turn.querySelector(".usage").textContent,
      metaRequestId: turn.querySelector(".request-id").textContent,
      sendDisabled: document.getElementById("send").disabled,
      stopDisabled: document.getElementById("stop").disabled,
    };
  }, LAST_ANSWER);
}

// Enters `key` in the key field and saves it.
async function saveKey(page, key) {
  await page.locator("#api-key").fill(key);
  await page.locator("#api-key").press("Enter");
  await page.waitForFunction(() => document.getElementById("api-key").value === "");
}

function requireTestKey() {
  const key = process.env.HELLO_SHIP_TEST_KEY;
  assert.ok(key, "HELLO_SHIP_TEST_KEY is not set: this scenario needs the server's test key");
  return key;
}

// Chromium reports every 401 response on the console. Those are expected
// where a scenario sends a request without a valid key.
function withoutUnauthorized(problems) {
  return problems.filter((problem) => !problem.includes("status of 401"));
}

async function screenshot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

// Returns the answer POST /chat gives for `message`: the text the streamed
// answer must add up to, since the demo provider is deterministic.
async function syncAnswer(message) {
  const response = await fetch(new URL("/chat", baseUrl), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message }),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  assert.equal(response.status, 200, "POST /chat status");
  return (await response.json()).answer;
}

// --- Scenarios -----------------------------------------------------------------

const scenarios = {
  // Tokens show up while the answer is still streaming, batched per frame,
  // and the finished answer shows its request id, time to first token and cost.
  async stream({ page, problems }) {
    await page.evaluate(() => {
      // Records the answer's text each time the page changes it.
      window.answerSnapshots = [];
      new MutationObserver(() => {
        const turn = document.querySelector("#transcript li.assistant:last-child");
        if (turn) {
          window.answerSnapshots.push({
            state: turn.dataset.state,
            length: turn.querySelector(".answer").textContent.length,
          });
        }
      }).observe(document.getElementById("transcript"), {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
    });

    // Shift+Enter adds a line break, and Enter sends. The server forwards
    // streamed text a sentence at a time, so the message has several.
    const box = page.locator("#message");
    await box.focus();
    await page.keyboard.type("First line: ünïcödé ✓.");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("Second one here. Third one here. mock:token_delay_ms=150");
    const message = "First line: ünïcödé ✓.\nSecond one here. Third one here. mock:token_delay_ms=150";
    assert.equal(await box.inputValue(), message, "Shift+Enter inserts a newline");
    assert.equal(
      await page.locator("#transcript li").count(),
      0,
      "Shift+Enter does not send",
    );
    const responsePromise = page.waitForResponse((r) => r.url().endsWith("/chat/stream"));
    await page.keyboard.press("Enter");
    const response = await responsePromise;
    const headerRequestId = response.headers()["x-request-id"];
    assert.match(headerRequestId, /^req_/, "X-Request-Id header");

    const midHandle = await page.waitForFunction((selector) => {
      const turn = document.querySelector(selector);
      const text = turn && turn.querySelector(".answer").textContent;
      return turn && turn.dataset.state === "streaming" && text.length > 0
        ? { text, busy: turn.getAttribute("aria-busy") }
        : null;
    }, LAST_ANSWER);
    const mid = await midHandle.jsonValue();
    await screenshot(page, "stream-mid");
    assert.equal(await page.locator("#stop").isEnabled(), true, "Stop is enabled while streaming");
    assert.equal(await page.locator("#send").isEnabled(), false, "Send is disabled while streaming");
    assert.equal(mid.busy, "true", "aria-busy while streaming");
    assert.equal(await box.inputValue(), "", "the message box is cleared on send");

    const done = await waitForState(page, "done");
    await screenshot(page, "stream-done");
    const expected = await syncAnswer(message);
    assert.equal(done.text, expected, "the streamed answer adds up to the /chat answer");
    assert.ok(
      mid.text.length < done.text.length && done.text.startsWith(mid.text),
      `mid-stream text ${JSON.stringify(mid.text)} is a strict prefix of the answer`,
    );

    const snapshots = await page.evaluate(() => window.answerSnapshots);
    const streamingLengths = new Set(
      snapshots.filter((s) => s.state === "streaming" && s.length > 0).map((s) => s.length),
    );
    assert.ok(
      streamingLengths.size >= 3,
      `the answer grew in at least 3 steps while streaming, saw ${[...streamingLengths]}`,
    );

    assert.equal(done.requestId, headerRequestId, "the answer keeps the request id");
    assert.equal(done.metaRequestId, headerRequestId, "the request id is shown");
    assert.match(done.ttft, /^\d+ ms$/, "time to first token is shown");
    assert.match(done.cost, /^\$\d+\.\d{6}$/, "cost is shown");
    assert.match(done.usage, /^\d+ in, \d+ out$/, "token usage is shown");
    assert.equal(done.busy, "false", "aria-busy is cleared when done");
    assert.equal(done.banner, null, "no error banner");
    assert.equal(done.degraded, null, "not marked degraded");
    assert.equal(done.sendDisabled, false, "Send is enabled again");
    assert.equal(done.stopDisabled, true, "Stop is disabled again");

    const userText = await page.locator("#transcript li.user .text").first().textContent();
    assert.equal(userText, message, "the user's message is shown with its line break");
    assert.equal(
      await page.locator("#transcript").getAttribute("aria-live"),
      "polite",
      "the conversation is a live region",
    );
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    return { request_id: done.requestId };
  },

  // Stop aborts the fetch mid-stream. The Rust side checks that the server
  // logged the disconnect, then this scenario checks the page.
  async stop({ page, problems }) {
    const message = "Please stop this answer part way mock:token_delay_ms=200";
    await sendMessage(page, message);
    await page.waitForFunction((selector) => {
      const turn = document.querySelector(selector);
      return turn && turn.dataset.state === "streaming"
        && turn.querySelector(".answer").textContent.trim().split(/\s+/).length >= 2;
    }, LAST_ANSWER);
    await page.locator("#stop").click();
    const stopped = await readAnswer(page);
    assert.match(stopped.requestId ?? "", /^req_/, "the stopped answer has its request id");
    send({ type: "stopped", request_id: stopped.requestId });
    await awaitReply();

    // The partial answer stays and does not grow after Stop.
    await page.waitForTimeout(600);
    const after = await readAnswer(page);
    await screenshot(page, "stopped");
    assert.equal(after.state, "stopped");
    assert.ok(after.text.length > 0, "the partial answer is kept");
    assert.equal(after.text, stopped.text, "no tokens are added after Stop");
    const full = await syncAnswer(message);
    assert.ok(
      full.startsWith(after.text) && after.text.length < full.length,
      "the kept text is a strict prefix of the full answer",
    );
    assert.equal(after.stoppedNotice, true, "the answer is marked as stopped");
    assert.equal(after.banner, null, "Stop is not reported as an error");
    assert.equal(after.sendDisabled, false, "Send is enabled after Stop");
    assert.equal(after.stopDisabled, true, "Stop is disabled after Stop");
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    return { request_id: after.requestId };
  },

  // A failure after the first sentence was forwarded: an error banner with
  // the incident id, and the partial answer stays.
  async error({ page, problems }) {
    await sendMessage(page, "Short one. mock:fail_after=8 then the rest of the question");
    const failed = await waitForState(page, "error");
    await screenshot(page, "error");
    assert.ok(failed.banner, "the error banner is visible");
    assert.equal(failed.bannerRole, "alert", "the banner is announced");
    assert.match(failed.incidentId ?? "", /^INC-[A-Z0-9-]+$/, "incident id");
    assert.ok(
      failed.banner.includes(failed.incidentId),
      `banner ${JSON.stringify(failed.banner)} shows the incident id`,
    );
    assert.match(failed.banner, /overloaded/, "the banner names the cause");
    assert.ok(
      failed.text.startsWith('You asked: "Short one.'),
      `the sentence sent before the failure stays: ${JSON.stringify(failed.text)}`,
    );
    assert.ok(
      !failed.text.includes("the rest"),
      `text after the failure point is not shown: ${JSON.stringify(failed.text)}`,
    );
    assert.equal(failed.sendDisabled, false, "Send is enabled after the failure");
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    return {
      request_id: failed.requestId,
      incident_id: failed.incidentId,
      text: failed.text,
    };
  },

  // Markup in the model's output is shown as text and never runs.
  async script({ page, problems, dialogs }) {
    const payload =
      '<script>window.injected = 1; alert(1)</script><img src=x onerror="window.injected=2;alert(2)">';
    await sendMessage(page, payload);
    const done = await waitForState(page, "done");
    await page.waitForTimeout(300);
    await screenshot(page, "script-as-text");
    assert.ok(done.text.includes(payload), `the answer shows the markup as text: ${done.text}`);
    assert.equal(done.answerChildElements, 0, "the answer holds no elements");
    const injected = await page.evaluate(() => ({
      global: typeof window.injected,
      elements: document.querySelectorAll("#transcript script, #transcript img").length,
    }));
    assert.equal(injected.global, "undefined", "the injected script did not run");
    assert.equal(injected.elements, 0, "no script or img element was created");
    assert.deepEqual(dialogs, [], "no dialog opened");
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    return { request_id: done.requestId };
  },

  // Every route fails before its first token: the degraded answer is marked,
  // with its incident id.
  async degraded({ page, problems }) {
    await sendMessage(page, "Is anyone there? mock:status=503");
    await waitForState(page, "error");
    await saveKey(page, requireTestKey());
    await page.locator("#message").press("Enter");
    const degraded = await waitForState(page, "degraded");
    await screenshot(page, "degraded");
    assert.ok(degraded.degraded, "the degraded notice is visible");
    assert.match(degraded.incidentId ?? "", /^INC-[A-Z0-9-]+$/, "incident id");
    assert.ok(
      degraded.degraded.includes(degraded.incidentId),
      `notice ${JSON.stringify(degraded.degraded)} shows the incident id`,
    );
    assert.ok(degraded.text.length > 0, "the degraded answer is shown");
    assert.equal(degraded.banner, null, "a degraded answer is not an error");
    assert.deepEqual(withoutUnauthorized(problems), [], "no console errors or CSP violations");
    return {
      request_id: degraded.requestId,
      incident_id: degraded.incidentId,
      text: degraded.text,
    };
  },

  // The page's SSE parser on line ends and chunk boundaries the server never
  // produces today but a proxy or another server may.
  async parser({ page }) {
    const cases = [
      { name: "LF", chunks: ["data: a\n\n"], expected: [["message", "a"]] },
      { name: "CRLF split between CR and LF", chunks: ["data: a\r", "\n\r", "\n"], expected: [["message", "a"]] },
      { name: "CR only", chunks: ['event: done\rdata: {"x":1}\r\r'], expected: [["done", '{"x":1}']] },
      {
        name: "split inside a field",
        chunks: ["da", 'ta: {"tok', 'en":"hi"}\n', "\n"],
        expected: [["message", '{"token":"hi"}']],
      },
      { name: "multi-line data", chunks: ["data: one\ndata: two\n\n"], expected: [["message", "one\ntwo"]] },
      { name: "comments", chunks: [": heartbeat\n\n", ":\n", "data: x\n\n"], expected: [["message", "x"]] },
      { name: "no space after colon", chunks: ["data:x\n\n"], expected: [["message", "x"]] },
      { name: "one space removed", chunks: ["data:  x\n\n"], expected: [["message", " x"]] },
      { name: "byte order mark", chunks: ["\ufeffdata: x\n\n"], expected: [["message", "x"]] },
      {
        name: "event name resets",
        chunks: ["event: error\ndata: a\n\ndata: b\n\n"],
        expected: [["error", "a"], ["message", "b"]],
      },
      { name: "unterminated event dropped", chunks: ["data: a\n\ndata: b\n"], expected: [["message", "a"]] },
      { name: "CR at the end of the stream", chunks: ["data: a\n", "\r"], expected: [["message", "a"]] },
      { name: "event without data", chunks: ["event: done\n\n"], expected: [] },
      { name: "field without colon", chunks: ["data\n\n"], expected: [["message", ""]] },
      { name: "id and retry ignored", chunks: ["id: 7\nretry: 10\ndata: x\n\n"], expected: [["message", "x"]] },
      {
        name: "one character per chunk",
        chunks: [...'event: done\r\ndata: {"a":1}\r\n\r\n'],
        expected: [["done", '{"a":1}']],
      },
    ];
    const results = await page.evaluate((cases) => {
      return cases.map(({ name, chunks }) => {
        const events = [];
        const parser = new window.HelloShipSse.SseParser((e) => events.push([e.event, e.data]));
        for (const chunk of chunks) {
          parser.push(chunk);
        }
        parser.end();
        return { name, events };
      });
    }, cases);
    for (const [index, result] of results.entries()) {
      assert.deepEqual(result.events, cases[index].expected, `parser case: ${result.name}`);
    }
    return { cases: results.length };
  },

  // The server requires a key: a 401 shows the key field, a wrong key is
  // rejected, and the right one is kept in sessionStorage and sent as a
  // bearer token.
  async "api-key"({ page, problems }) {
    const key = requireTestKey();
    const authorizations = [];
    page.on("request", (request) => {
      if (request.url().endsWith("/chat/stream")) {
        authorizations.push(request.headers().authorization ?? null);
      }
    });

    assert.equal(await page.locator("#key-panel").isVisible(), false, "no key field before a 401");
    await sendMessage(page, "Hello there.");
    const rejected = await waitForState(page, "error");
    await screenshot(page, "api-key");
    assert.equal(authorizations[0], null, "no Authorization header without a key");
    assert.match(rejected.requestId ?? "", /^req_/, "the rejected request has its request id");
    assert.ok(rejected.banner.includes("API key"), `banner asks for a key: ${rejected.banner}`);
    assert.equal(await page.locator("#key-panel").isVisible(), true, "the key field is shown");
    assert.equal(
      await page.evaluate(() => document.activeElement.id),
      "api-key",
      "the key field has focus",
    );
    assert.equal(await page.locator("#message").inputValue(), "Hello there.", "the message is kept");

    await saveKey(page, "wrong-key");
    await page.locator("#message").press("Enter");
    await page.waitForFunction(
      () => document.querySelectorAll('#transcript li.assistant[data-state="error"]').length === 2,
    );
    assert.equal(authorizations[1], "Bearer wrong-key", "the saved key is sent");
    assert.match(
      await page.locator("#key-status").textContent(),
      /rejected the saved key/,
      "a wrong key is reported",
    );

    await saveKey(page, key);
    assert.equal(await page.locator("#api-key").inputValue(), "", "the field is cleared");
    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem("hello-ship.api-key"),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    assert.equal(storage.session, key, "the key is in sessionStorage");
    assert.equal(storage.local, 0, "nothing is in localStorage");
    assert.equal(storage.cookie, "", "no cookie is set");
    await page.locator("#message").press("Enter");
    const done = await waitForState(page, "done");
    assert.equal(authorizations[2], `Bearer ${key}`, "the key is sent as a bearer token");
    assert.ok(done.text.length > 0, "the answer is shown");

    // The key outlives a reload of the tab, and Forget key removes it.
    await page.reload();
    assert.equal(
      await page.locator("#key-panel").isVisible(),
      true,
      "the key field stays visible while a key is saved",
    );
    await sendMessage(page, "Still there?");
    await waitForState(page, "done");
    assert.equal(authorizations[3], `Bearer ${key}`, "the key is sent after a reload");
    await page.locator("#key-forget").click();
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem("hello-ship.api-key")),
      null,
      "Forget key removes it",
    );
    assert.deepEqual(withoutUnauthorized(problems), [], "no console errors or CSP violations");
    return { rejected_request_id: rejected.requestId, requests: authorizations.length };
  },
};

// --- Main ----------------------------------------------------------------------

async function main() {
  const scenario = scenarios[scenarioName];
  if (!scenario) {
    throw new Error(`unknown scenario ${scenarioName}; known: ${Object.keys(scenarios).join(", ")}`);
  }
  mkdirSync(screenshotDir, { recursive: true });

  // Playwright gives every launch a new temporary profile directory in place
  // of --user-data-dir. The other flags stop Chromium's own background
  // requests, so the test sends requests to 127.0.0.1 only.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT_MS * 2,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-proxy-server",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const problems = [];
    const dialogs = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        problems.push(`${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
    page.on("dialog", async (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      await dialog.dismiss();
    });

    const response = await page.goto(baseUrl + "/");
    assert.equal(response.status(), 200, "GET / status");
    await page.waitForSelector("#message:focus");

    const result = await scenario({ page, problems, dialogs });
    send({ type: "result", scenario: scenarioName, ...result });
  } finally {
    await browser.close();
  }
}

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  (error) => {
    console.error(`scenario ${scenarioName} failed: ${error.stack || error}`);
    process.exit(1);
  },
);
