// The overview's live parts: the last-10 table refreshed every 5 s from /api/last10, rate charts
// per window size from /api/alltraffic, the alert timeline from /api/alerts. Each part marks
// itself when drawn (data-drawn / data-refreshes), which the browser tests read.
(function () {
  const pct = (c) => (c == null ? "" : (c * 100).toFixed(1) + "%");
  const time = (t) => t.replace("T", " ").slice(0, 19);

  async function refreshLast10() {
    const table = document.getElementById("last10");
    const rows = await (await fetch("/api/last10")).json();
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
    const rows = (await (await fetch(`/api/alltraffic?scope=global&window_seconds=${size}&limit=60`)).json()).reverse();
    new Chart(canvas, {
      type: "line",
      data: {
        labels: rows.map((w) => time(w.window_start)),
        datasets: [
          { label: "packets/s", data: rows.map((w) => w.packets_per_sec), yAxisID: "packets", borderColor: "#2e86c1" },
          { label: "bytes/s", data: rows.map((w) => w.bytes_per_sec), yAxisID: "bytes", borderColor: "#c0392b" },
        ],
      },
      options: {
        animation: false,
        plugins: { title: { display: true, text: `${size} s windows` } },
        scales: { packets: { position: "left" }, bytes: { position: "right" } },
      },
    });
    canvas.dataset.drawn = String(rows.length);
  }

  async function drawTimeline() {
    const canvas = document.getElementById("timeline");
    const alerts = await (await fetch("/api/alerts?limit=1000")).json();
    const severities = ["Critical", "High", "Medium", "Low"];
    const colors = { Critical: "#8e0000", High: "#c0392b", Medium: "#f5b041", Low: "#58d68d" };
    const minutes = [...new Set(alerts.map((a) => a.first_seen.slice(0, 16)))].sort();
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: minutes.map((m) => m.replace("T", " ")),
        datasets: severities.map((s) => ({
          label: s,
          backgroundColor: colors[s],
          data: minutes.map((m) => alerts.filter((a) => a.severity === s && a.first_seen.startsWith(m)).length),
        })),
      },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } },
    });
    canvas.dataset.drawn = String(alerts.length);
  }

  document.querySelectorAll("canvas.rate").forEach(drawRates);
  drawTimeline();
  refreshLast10();
  setInterval(refreshLast10, 5000);
})();
