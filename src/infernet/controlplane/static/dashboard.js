// Infernet dashboard: live fragments over SSE, ticking heartbeat ages, copy buttons, chat.
"use strict";

function ago(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

function tick() {
  const now = Date.now() / 1000;
  document.querySelectorAll("[data-since]").forEach((el) => {
    el.textContent = ago(now - parseFloat(el.dataset.since));
  });
}

function follow(url) {
  const source = new EventSource(url);
  source.onmessage = (message) => {
    const fragments = JSON.parse(message.data);
    for (const [id, html] of Object.entries(fragments)) {
      const target = document.getElementById(id);
      if (target) target.innerHTML = html;
    }
    tick();
  };
  window.addEventListener("pagehide", () => source.close());
}

function copyButtons() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copy).textContent;
    const done = () => { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { button.textContent = "Select and copy"; });
    } else {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}

async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (line.startsWith("data: ")) onData(line.slice(6));
      }
    }
  }
}

function bubble(log, role, text) {
  const div = document.createElement("div");
  div.className = "bubble " + role;
  div.textContent = text;
  log.appendChild(div);
  return div;
}

function chat() {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const error = document.getElementById("chat-error");
  const send = document.getElementById("chat-send");
  const history = [];
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const text = input.value.trim();
    if (!text) { error.textContent = "Type a message first."; error.hidden = false; return; }
    const model = document.getElementById("chat-model").value;
    if (!model) { error.textContent = "No model is served right now."; error.hidden = false; return; }
    history.push({ role: "user", content: text });
    bubble(log, "user", text);
    input.value = "";
    const answer = bubble(log, "assistant streaming", "");
    send.disabled = true;
    let failed = null;
    try {
      const response = await fetch(form.dataset.endpoint, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify({ model: model, messages: history }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        failed = body.error_message || ("The request failed (HTTP " + response.status + ").");
      } else {
        await readEvents(response, (data) => {
          if (data === "[DONE]") return;
          const piece = JSON.parse(data);
          if (piece.error) failed = piece.message || piece.error;
          else if (piece.text) answer.textContent += piece.text;
        });
      }
    } catch (exc) {
      failed = "The connection to the control plane was lost; try again.";
    }
    answer.classList.remove("streaming");
    if (failed) {
      answer.remove();
      history.pop();
      error.textContent = failed;
      error.hidden = false;
    } else {
      answer.classList.add("done");
      history.push({ role: "assistant", content: answer.textContent });
    }
    send.disabled = false;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-live]");
  if (live) follow(live.dataset.live);
  tick();
  setInterval(tick, 1000);
  copyButtons();
  chat();
});
