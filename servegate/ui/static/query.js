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

  // The body follows the served model picked in "Send to" (its own input example), unless
  // the reader has edited it: then it is kept, and the example is one click away.
  const source = $("body-source");
  const useExample = $("use-example");
  let prefilled = body.value;
  let offered = null;

  function prefill(example) {
    body.value = prefilled = example.body;
    source.textContent = example.source ? `Prefilled from ${example.source}.` : "";
    useExample.hidden = true;
    parsed();
  }

  form.elements.served.addEventListener("change", async () => {
    const served = form.elements.served.value;
    const response = await fetch(`${form.dataset.example}?served=${encodeURIComponent(served)}`,
      { headers: { "X-Servegate-UI": "1" } });
    if (!response.ok) return;
    const example = await response.json();
    if (body.value === prefilled) { prefill(example); return; }
    offered = example;
    source.textContent = "Your edited body is kept.";
    useExample.textContent = `Use ${served || "the endpoint"}'s example`;
    useExample.hidden = false;
  });
  useExample.addEventListener("click", () => { if (offered) prefill(offered); body.focus(); });

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
