// The overview's live parts, refreshed every 5 s: the last-10 table from /api/last10, the rate
// charts per window size from /api/features, the alert timeline from /api/alert_timeline. Each
// part marks itself when drawn (data-refreshes, data-drawn, data-last), which the browser tests
// read; #refreshed says when the page last refreshed, or that it could not.
(function () {
  const REFRESH_MS = 5000;
  const pct = (c) => (c == null ? "" : (c * 100).toFixed(1) + "%");
  const time = (t) => t.replace("T", " ").slice(0, 19);
  const charts = new Map();

  async function json(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  // A chart drawn once, then given new data in place.
  function draw(canvas, config) {
    const chart = charts.get(canvas);
    if (chart) {
      chart.data = config.data;
      chart.update("none");
    } else {
      charts.set(canvas, new Chart(canvas, config));
    }
  }

  async function refreshLast10() {
    const table = document.getElementById("last10");
    const rows = await json("/api/last10");
    const body = table.querySelector("tbody");
    body.replaceChildren(...rows.map((w) => {
      const tr = document.createElement("tr");
      for (const v of [time(w.window_start), w.packet_count, w.byte_count, (w.packets_per_sec || 0).toFixed(1),
                       w.distinct_src_ips, w.distinct_dst_ips, w.predicted_label || "", pct(w.confidence)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }));
    table.dataset.refreshes = String(Number(table.dataset.refreshes) + 1);
  }

  async function drawRates(canvas) {
    const size = canvas.dataset.window;
    const rows = await json(`/api/features?window_seconds=${size}&features=packets_per_sec,bytes_per_sec&limit=60`);
    draw(canvas, {
      type: "line",
      data: {
        // Time of day on the axis; the day is in the title.
        labels: rows.map((w) => time(w.window_start).slice(11)),
        datasets: [
          { label: "packets/s", data: rows.map((w) => w.packets_per_sec), yAxisID: "packets", borderColor: "#2e86c1" },
          { label: "bytes/s", data: rows.map((w) => w.bytes_per_sec), yAxisID: "bytes", borderColor: "#c0392b" },
        ],
      },
      options: {
        animation: false,
        plugins: {
          title: { display: true, text: `${size} s windows${rows.length ? ", " + time(rows[0].window_start).slice(0, 10) : ""}` },
        },
        scales: { packets: { position: "left" }, bytes: { position: "right" } },
      },
    });
    canvas.dataset.drawn = String(rows.length);
    canvas.dataset.last = rows.length ? time(rows[rows.length - 1].window_start) : "";
  }

  async function drawTimeline() {
    const canvas = document.getElementById("timeline");
    const buckets = await json("/api/alert_timeline?bucket_seconds=60");
    const severities = ["Critical", "High", "Medium", "Low"];
    const colors = { Critical: "#8e0000", High: "#c0392b", Medium: "#f5b041", Low: "#58d68d" };
    const starts = [...new Set(buckets.map((b) => b.bucket_start))].sort();
    const count = (start, severity) =>
      buckets.filter((b) => b.bucket_start === start && b.severity === severity).reduce((n, b) => n + b.alerts, 0);
    draw(canvas, {
      type: "bar",
      data: {
        labels: starts.map(time),
        datasets: severities.map((s) => ({
          label: s,
          backgroundColor: colors[s],
          data: starts.map((start) => count(start, s)),
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } },
      },
    });
    canvas.dataset.drawn = String(buckets.reduce((n, b) => n + b.alerts, 0));
  }

  let refreshedAt = null;

  async function refresh() {
    const status = document.getElementById("refreshed");
    try {
      await Promise.all([
        refreshLast10(),
        ...[...document.querySelectorAll("canvas.rate")].map(drawRates),
        drawTimeline(),
      ]);
      refreshedAt = new Date();
      status.textContent = `refreshed ${refreshedAt.toLocaleTimeString()}`;
      status.className = "";
    } catch (e) {
      // The front or the database is away: say so, keep what is shown, try again next time.
      const since = refreshedAt ? refreshedAt.toLocaleTimeString() : "the page loaded";
      status.textContent = `refresh failed (${e.message}): showing data as of ${since}`;
      status.className = "stale";
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
