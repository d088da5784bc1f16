// servegate web UI: the little behaviour htmx does not cover. No framework, no build step.
"use strict";

// Times are rendered in UTC by the server; show them in the reader's own zone.
function localizeTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) { el.textContent = when.toLocaleString(); el.title = el.getAttribute("datetime"); }
  }
}

// Filter a table's rows by free text and by state, client-side.
function wireFilters(root) {
  for (const input of root.querySelectorAll("[data-filter], [data-filter-state]")) {
    const table = document.querySelector(input.dataset.filter || input.dataset.filterState);
    if (!table || input.dataset.wired) continue;
    input.dataset.wired = "1";
    input.addEventListener("input", () => applyFilter(table));
  }
}

function applyFilter(table) {
  const text = document.querySelector(`[data-filter="#${table.id}"]`);
  const state = document.querySelector(`[data-filter-state="#${table.id}"]`);
  const needle = (text ? text.value : "").trim().toLowerCase();
  const wanted = state ? state.value : "";
  let shown = 0;
  const rows = table.tBodies[0].rows;
  for (const row of rows) {
    const visible = (!needle || row.textContent.toLowerCase().includes(needle))
      && (!wanted || row.dataset.state === wanted);
    row.hidden = !visible;
    if (visible) shown++;
  }
  const count = document.querySelector(`[data-filter-count="#${table.id}"]`);
  if (count) count.textContent = `${shown} of ${rows.length} shown`;
}

// Traffic percentages of a form: the live sum, which must be 100.
function checkTraffic(form) {
  const inputs = form.querySelectorAll("input[data-traffic]");
  const out = form.querySelector("#traffic-sum");
  if (!out || !inputs.length) return;
  let total = 0, bad = false;
  for (const input of inputs) {
    const value = input.value.trim() === "" ? NaN : Number(input.value);
    if (!Number.isInteger(value) || value < 0 || value > 100) bad = true; else total += value;
  }
  const ok = !bad && total === 100;
  out.textContent = bad ? "Each percentage must be a whole number from 0 to 100."
    : ok ? "Traffic adds up to 100%." : `Traffic adds up to ${total}%; it must add up to 100%.`;
  out.className = ok ? "sum ok" : "sum bad";
}

function wire(root) {
  localizeTimes(root);
  wireFilters(root);
  for (const form of root.querySelectorAll("form[data-traffic-form]")) checkTraffic(form);
}

document.addEventListener("DOMContentLoaded", () => wire(document));
document.addEventListener("htmx:afterSettle", (event) => wire(event.target));
document.addEventListener("input", (event) => {
  const form = event.target.closest && event.target.closest("form[data-traffic-form]");
  if (form && event.target.matches("input[data-traffic]")) checkTraffic(form);
});

// Copy a snippet or a URL: the clipboard where the browser allows it, else select the text.
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
