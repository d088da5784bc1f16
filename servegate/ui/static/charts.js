// Charts of an endpoint's traffic, from samples of its metrics taken while the page is open:
// requests/s per served model, p50/p99 latency, and 4xx/5xx per second (uPlot).
"use strict";
(function () {
  const root = document.querySelector("[data-metrics]");
  if (!root || !window.uPlot) return;
  const EVERY_MS = 2000, KEEP = 450;  // 15 minutes
  const WINDOW_S = 120;  // the narrowest span shown, so a young chart reads as recent seconds
  const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777", "#4f46e5", "#78716c"];
  const history = { time: [], rps: {}, p50: [], p99: [], e4: [], e5: [] };
  const charts = {};
  let previous = null;

  // The q-quantile (ms) of the requests between two samples of cumulative latency buckets,
  // interpolated within its bucket as Prometheus' histogram_quantile does.
  function quantile(q, now, before) {
    const earlier = new Map(before.map(([bound, count]) => [bound, count]));
    const counts = now.map(([bound, count]) => [bound, count - (earlier.get(bound) || 0)]);
    const total = counts.length ? counts[counts.length - 1][1] : 0;
    if (total <= 0) return null;
    const rank = q * total;
    let lower = 0, below = 0;
    for (const [bound, count] of counts) {
      if (count >= rank) {
        if (bound === null) return lower * 1000;
        const inside = count - below;
        return (lower + (bound - lower) * (inside > 0 ? (rank - below) / inside : 1)) * 1000;
      }
      lower = bound === null ? lower : bound;
      below = count;
    }
    return lower * 1000;
  }

  const rate = (now, before, seconds) => Math.max(0, now - before) / seconds;

  function record(sample) {
    if (previous) {
      const seconds = sample.time - previous.time;
      if (seconds <= 0) return;
      history.time.push(sample.time);
      const served = new Set([...Object.keys(history.rps), ...Object.keys(sample.requests)]);
      for (const name of served) {
        const series = history.rps[name] || (history.rps[name] = history.time.slice(1).map(() => null));
        series.push(rate(sample.requests[name] || 0, previous.requests[name] || 0, seconds));
      }
      history.p50.push(quantile(0.5, sample.latency_buckets, previous.latency_buckets));
      history.p99.push(quantile(0.99, sample.latency_buckets, previous.latency_buckets));
      history.e4.push(rate(sample.client_errors, previous.client_errors, seconds));
      history.e5.push(rate(sample.server_errors, previous.server_errors, seconds));
      if (history.time.length > KEEP) {
        history.time.shift(); history.p50.shift(); history.p99.shift(); history.e4.shift(); history.e5.shift();
        for (const series of Object.values(history.rps)) series.shift();
      }
      draw();
    }
    previous = sample;
  }

  function lines(names) {
    return [{}, ...names.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))];
  }

  function plot(key, names, columns, unit) {
    const el = root.querySelector(`[data-chart="${key}"]`);
    const data = [history.time, ...columns];
    const signature = names.join("\u0000");
    let chart = charts[key];
    if (!chart || chart.signature !== signature) {
      if (chart) chart.plot.destroy();
      const plot = new uPlot({
        width: Math.max(el.clientWidth, 260), height: 200, series: lines(names),
        axes: [{}, { size: 56, values: (u, ticks) => ticks.map((v) => v == null ? "" : `${+v.toFixed(2)}${unit}`) }],
        scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - WINDOW_S), max] }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      }, data, el);
      chart = charts[key] = { plot, signature };
    } else {
      chart.plot.setData(data);
    }
    el.dataset.points = String(history.time.length);
    el.dataset.last = JSON.stringify(columns.map((c) => c[c.length - 1]));
  }

  function draw() {
    const served = Object.keys(history.rps).sort();
    plot("rps", served, served.map((name) => history.rps[name]), "");
    plot("latency", ["p50", "p99"], [history.p50, history.p99], "");
    plot("errors", ["4xx", "5xx"], [history.e4, history.e5], "");
  }

  async function tick() {
    try {
      const response = await fetch(root.dataset.metrics, { headers: { "X-Servegate-UI": "1" } });
      if (response.ok) record(await response.json());
    } catch (error) {
      // The gateway restarting: keep the chart and try again on the next tick.
    }
  }

  window.addEventListener("resize", () => {
    for (const [key, chart] of Object.entries(charts)) {
      const el = root.querySelector(`[data-chart="${key}"]`);
      chart.plot.setSize({ width: Math.max(el.clientWidth, 260), height: 200 });
    }
  });
  tick();
  setTimeout(tick, 1000);  // a second sample soon, so the charts start at once
  setInterval(tick, EVERY_MS);
})();
