// Follow a served model's log: the API's ?follow=true stream, appended as lines arrive.
"use strict";
(function () {
  const box = document.getElementById("follow");
  const log = document.getElementById("log");
  if (!box || !log) return;
  let controller = null;

  async function follow() {
    controller = new AbortController();
    const response = await fetch(box.dataset.follow, { signal: controller.signal, headers: { "X-Servegate-UI": "1" } });
    if (!response.ok) {
      log.textContent += `\n[follow refused: ${response.status} ${await response.text()}]\n`;
      box.checked = false;
      return;
    }
    log.textContent = "";  // the stream starts with the same recent lines
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent += value;
      if (atEnd) log.scrollTop = log.scrollHeight;
    }
  }

  box.addEventListener("change", () => {
    if (box.checked) follow().catch(() => { box.checked = false; });
    else if (controller) controller.abort();
  });
  log.scrollTop = log.scrollHeight;
})();
