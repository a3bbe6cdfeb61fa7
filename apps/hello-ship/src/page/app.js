// The hello-ship chat page: sends the conversation to POST /chat/stream and
// renders the server-sent events as they arrive. Model output is only ever
// written as text (Text nodes and textContent), never parsed as HTML.
"use strict";

(function () {
  // --- Server-sent events ---------------------------------------------------

  // Incremental parser for the text/event-stream format of the WHATWG HTML
  // standard (section 9.2.6): lines end in CRLF, LF or CR, and a chunk may end
  // anywhere, including between the CR and LF of one line end. `onEvent`
  // receives {event, data} for each dispatched event. Comments, `id` and
  // `retry` are ignored because a fetch() stream is never reconnected.
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = "";
      this.started = false;
      this.eventName = "";
      this.dataLines = [];
    }

    // Feeds decoded text. Complete lines are processed at once, and a trailing
    // partial line waits for the next chunk.
    push(text) {
      this.buffer += text;
      if (!this.started && this.buffer.length > 0) {
        this.started = true;
        if (this.buffer.charCodeAt(0) === 0xfeff) {
          this.buffer = this.buffer.slice(1);
        }
      }
      let start = 0;
      for (;;) {
        const cr = this.buffer.indexOf("\r", start);
        const lf = this.buffer.indexOf("\n", start);
        if (cr === -1 && lf === -1) {
          break;
        }
        let end;
        let next;
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          if (cr === this.buffer.length - 1) {
            // A CR at the end of the chunk may be the first half of a CRLF.
            break;
          }
          end = cr;
          next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        } else {
          end = lf;
          next = lf + 1;
        }
        this.line(this.buffer.slice(start, end));
        start = next;
      }
      this.buffer = this.buffer.slice(start);
    }

    // Ends the stream. A lone CR still ends its line. An event without its
    // closing blank line is discarded, as the standard requires.
    end() {
      if (this.buffer.endsWith("\r")) {
        this.line(this.buffer.slice(0, -1));
      }
      this.buffer = "";
      this.eventName = "";
      this.dataLines = [];
    }

    line(line) {
      if (line === "") {
        this.dispatch();
        return;
      }
      if (line.startsWith(":")) {
        return;
      }
      const colon = line.indexOf(":");
      let field = line;
      let value = "";
      if (colon !== -1) {
        field = line.slice(0, colon);
        value = line.slice(colon + 1);
        if (value.startsWith(" ")) {
          value = value.slice(1);
        }
      }
      if (field === "event") {
        this.eventName = value;
      } else if (field === "data") {
        this.dataLines.push(value);
      }
    }

    dispatch() {
      const name = this.eventName || "message";
      const data = this.dataLines.join("\n");
      const hasData = this.dataLines.length > 0;
      this.eventName = "";
      this.dataLines = [];
      if (hasData) {
        this.onEvent({ event: name, data });
      }
    }
  }

  // The browser test calls the parser directly, so it is the one global this
  // script defines.
  window.HelloShipSse = Object.freeze({ SseParser });

  // --- Settings -------------------------------------------------------------

  const KEY_STORAGE = "hello-ship.api-key";
  // The server sends a heartbeat comment after heartbeat_secs (15 s by
  // default) of silence, so this much silence means the connection is dead.
  const SILENCE_LIMIT_MS = 60000;

  const STREAM_ERROR_TEXT = {
    upstream_timeout: "the model timed out",
    upstream_overloaded: "the model is overloaded",
    upstream_stream_truncated: "the model's stream ended early",
    upstream_error: "the model returned an error",
    content_filter: "a content filter stopped the answer",
  };

  // --- Elements ---------------------------------------------------------------

  const form = document.getElementById("chat-form");
  const messageBox = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const transcript = document.getElementById("transcript");
  const keyPanel = document.getElementById("key-panel");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("api-key");
  const keyForget = document.getElementById("key-forget");
  const keyStatus = document.getElementById("key-status");
  const userTemplate = document.getElementById("user-turn");
  const assistantTemplate = document.getElementById("assistant-turn");

  // Completed exchanges, sent back as `messages` so the model sees the
  // conversation. Stopped, failed and degraded answers are left out.
  const history = [];
  let current = null;

  // --- API key ------------------------------------------------------------------

  function storedKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return "";
    }
  }

  function showKeyPanel(message) {
    keyPanel.hidden = false;
    keyStatus.textContent = message;
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    keyInput.value = "";
    keyStatus.textContent = "Key saved for this tab. Send your message again.";
    messageBox.focus();
  });

  keyForget.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    keyInput.value = "";
    keyStatus.textContent = "Key removed from this tab.";
  });

  if (storedKey()) {
    showKeyPanel("A key is saved for this tab.");
  }

  // --- Turns --------------------------------------------------------------------

  function addUserTurn(text) {
    const turn = userTemplate.content.firstElementChild.cloneNode(true);
    turn.querySelector(".text").textContent = text;
    transcript.append(turn);
  }

  // One assistant answer in the transcript. Tokens are queued and appended
  // once per animation frame, so a fast stream costs one layout per frame.
  class AnswerView {
    constructor() {
      this.root = assistantTemplate.content.firstElementChild.cloneNode(true);
      this.textNode = document.createTextNode("");
      this.root.querySelector(".answer").append(this.textNode);
      this.pending = [];
      this.frame = 0;
      transcript.append(this.root);
      this.root.scrollIntoView({ block: "end" });
    }

    get text() {
      return this.textNode.data + this.pending.join("");
    }

    setState(state) {
      this.root.dataset.state = state;
      const busy = state === "waiting" || state === "streaming";
      this.root.setAttribute("aria-busy", busy ? "true" : "false");
      this.root.querySelector(".waiting").hidden = state !== "waiting";
    }

    appendToken(token) {
      this.pending.push(token);
      if (!this.frame) {
        this.frame = requestAnimationFrame(() => this.flush());
      }
    }

    flush() {
      if (this.frame) {
        cancelAnimationFrame(this.frame);
        this.frame = 0;
      }
      if (this.pending.length > 0) {
        this.textNode.appendData(this.pending.join(""));
        this.pending = [];
        this.root.scrollIntoView({ block: "end" });
      }
    }

    setMeta(name, value) {
      this.root.querySelector("." + name).textContent = value;
    }

    setRequestId(requestId) {
      if (requestId) {
        this.root.dataset.requestId = requestId;
        this.setMeta("request-id", requestId);
      }
    }

    showNotice(name, message, incidentId) {
      const notice = this.root.querySelector(".notice." + name);
      if (message) {
        notice.textContent = message;
        this.appendIncident(notice, incidentId);
      }
      notice.hidden = false;
    }

    showBanner(message, incidentId) {
      this.flush();
      const banner = this.root.querySelector(".banner");
      banner.textContent = message;
      this.appendIncident(banner, incidentId);
      banner.hidden = false;
    }

    appendIncident(element, incidentId) {
      if (!incidentId) {
        return;
      }
      this.root.dataset.incidentId = incidentId;
      const code = document.createElement("code");
      code.className = "incident-id";
      code.textContent = incidentId;
      element.append(" Incident ", code, ".");
    }
  }

  // --- Sending ------------------------------------------------------------------

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.disabled = !busy;
  }

  function formatCost(costUsd) {
    if (typeof costUsd !== "number" || !Number.isFinite(costUsd)) {
      return "–";
    }
    return "$" + costUsd.toFixed(6);
  }

  function formatUsage(usage) {
    if (!usage || typeof usage.input_tokens !== "number") {
      return "–";
    }
    return `${usage.input_tokens} in, ${usage.output_tokens} out`;
  }

  // Reads the JSON error body of a non-2xx response, or returns null.
  async function readError(response) {
    try {
      const body = await response.json();
      return body && body.error ? body.error : null;
    } catch {
      return null;
    }
  }

  async function send(text) {
    const request = {
      text,
      view: null,
      controller: new AbortController(),
      stopped: false,
      finished: false,
      silenceTimer: 0,
    };
    current = request;
    setBusy(true);
    addUserTurn(text);
    const view = new AnswerView();
    request.view = view;

    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = storedKey();
    if (key) {
      headers.Authorization = "Bearer " + key;
    }
    const messages = history.concat([{ role: "user", content: text }]);
    const startedAt = performance.now();
    let firstTokenAt = 0;

    const resetSilenceTimer = () => {
      clearTimeout(request.silenceTimer);
      request.silenceTimer = setTimeout(() => {
        request.controller.abort();
        fail(request, "The server stopped responding, so the request was cancelled.");
      }, SILENCE_LIMIT_MS);
    };

    try {
      resetSilenceTimer();
      const response = await fetch("/chat/stream", {
        method: "POST",
        headers,
        body: JSON.stringify({ messages }),
        signal: request.controller.signal,
        cache: "no-store",
      });
      view.setRequestId(response.headers.get("X-Request-Id"));

      if (!response.ok) {
        await handleHttpError(request, response);
        return;
      }

      const parser = new SseParser((event) => {
        resetSilenceTimer();
        handleEvent(request, event, () => {
          if (!firstTokenAt) {
            firstTokenAt = performance.now();
            view.setMeta("ttft", `${Math.round(firstTokenAt - startedAt)} ms`);
            view.setState("streaming");
          }
        });
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          parser.end();
          break;
        }
        // Heartbeat comments also count as signs of life.
        resetSilenceTimer();
        parser.push(value);
      }
      if (!request.finished) {
        fail(request, "The connection closed before the answer was complete.");
      }
    } catch (error) {
      if (request.stopped || request.finished) {
        return;
      }
      if (error && error.name === "AbortError") {
        return;
      }
      fail(request, "Could not reach the server. Check your connection and try again.");
    } finally {
      clearTimeout(request.silenceTimer);
      view.flush();
      if (current === request) {
        current = null;
        setBusy(false);
      }
    }
  }

  function handleEvent(request, event, onToken) {
    if (request.finished || request.stopped) {
      return;
    }
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch {
      return;
    }
    const view = request.view;
    if (event.event === "message" && typeof payload.token === "string") {
      onToken();
      view.appendToken(payload.token);
    } else if (event.event === "done") {
      finish(request, payload);
    } else if (event.event === "error") {
      request.finished = true;
      view.setRequestId(payload.request_id);
      const cause = STREAM_ERROR_TEXT[payload.code] || "the model failed";
      const partial = payload.tokens_emitted > 0 ? " The partial answer above is kept." : "";
      view.showBanner(`The answer stopped because ${cause}.${partial}`, payload.incident_id);
      view.setState("error");
    }
  }

  function finish(request, done) {
    const view = request.view;
    request.finished = true;
    view.flush();
    view.setRequestId(done.request_id);
    view.setMeta("cost", formatCost(done.cost_usd));
    view.setMeta("usage", formatUsage(done.usage));
    if (done.degraded) {
      view.showNotice(
        "degraded",
        "Degraded answer: no model was available, so this is the server's fallback message.",
        done.incident_id,
      );
      view.setState("degraded");
      return;
    }
    view.setState("done");
    history.push({ role: "user", content: request.text }, { role: "assistant", content: view.text });
  }

  function fail(request, message) {
    if (request.finished || request.stopped) {
      return;
    }
    request.finished = true;
    request.view.showBanner(message, null);
    request.view.setState("error");
  }

  async function handleHttpError(request, response) {
    const error = await readError(response);
    const view = request.view;
    request.finished = true;
    if (error && error.request_id) {
      view.setRequestId(error.request_id);
    }
    const detail = error && error.message ? ` (${error.message})` : "";
    if (response.status === 401) {
      const hadKey = storedKey() !== "";
      showKeyPanel(
        hadKey
          ? "The server rejected the saved key. Enter a valid key."
          : "Enter your key, save it, then send your message again.",
      );
      view.showBanner(`The server requires a valid API key${detail}.`, null);
      view.setState("error");
      messageBox.value = request.text;
      keyInput.focus();
      return;
    }
    let message = `The request failed with HTTP ${response.status}${detail}.`;
    const retryAfter = response.headers.get("Retry-After");
    if (retryAfter) {
      message += ` Try again in ${retryAfter} s.`;
    }
    view.showBanner(message, null);
    view.setState("error");
    messageBox.value = request.text;
  }

  function stop() {
    const request = current;
    if (!request || request.finished) {
      return;
    }
    request.stopped = true;
    // Aborting the fetch closes the connection, and the server then drops the
    // upstream call.
    request.controller.abort();
    request.view.flush();
    request.view.showNotice("stopped");
    request.view.setState("stopped");
    current = null;
    setBusy(false);
    messageBox.focus();
  }

  // --- Input --------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = messageBox.value.trim();
    if (!text || current) {
      return;
    }
    messageBox.value = "";
    send(text);
  });

  messageBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && current) {
      stop();
    }
  });

  stopButton.addEventListener("click", stop);
  messageBox.focus();
})();
