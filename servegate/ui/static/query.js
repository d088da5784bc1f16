// The query panel: send the body to the endpoint through the session, show what came back.
"use strict";
(function () {
  const form = document.getElementById("query-form");
  if (!form) return;
  const body = document.getElementById("body");
  const error = document.getElementById("body-error");
  const $ = (id) => document.getElementById(id);

  function parsed() {
    try {
      const value = JSON.parse(body.value);
      error.hidden = true; body.removeAttribute("aria-invalid");
      return { value };
    } catch (problem) {
      error.textContent = `Not valid JSON: ${problem.message}`;
      error.hidden = false; body.setAttribute("aria-invalid", "true");
      return null;
    }
  }

  $("format").addEventListener("click", () => {
    const json = parsed();
    if (json) body.value = JSON.stringify(json.value, null, 2);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!parsed()) { body.focus(); return; }
    const served = form.elements.served.value;
    const path = `/ui/rest/serving-endpoints/${encodeURIComponent(form.dataset.endpoint)}`
      + (served ? `/served-models/${encodeURIComponent(served)}` : "") + "/invocations";
    const send = $("send");
    send.disabled = true;
    const started = performance.now();
    try {
      const response = await fetch(path, {
        method: "POST", body: body.value,
        headers: { "Content-Type": "application/json", "X-Servegate-UI": "1" },
      });
      const text = await response.text();
      const elapsed = performance.now() - started;
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (notJson) { /* as sent */ }
      $("response-status").textContent = `${response.status} ${response.statusText}`;
      $("response-status").className = response.ok ? "ok" : "bad";
      $("response-served").textContent = response.headers.get("served-model-name") || "—";
      $("response-latency").textContent = `${elapsed.toFixed(1)} ms`;
      $("response-id").textContent = response.headers.get("x-request-id") || "—";
      $("response-body").textContent = shown;
    } catch (failure) {
      $("response-status").textContent = `No answer: ${failure.message}`;
      $("response-body").textContent = "";
    } finally {
      send.disabled = false;
      $("response").hidden = false;
    }
  });
})();

// Copy a snippet: the clipboard where the browser allows it, else select the text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch (refused) {
    getSelection().selectAllChildren(source);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});
