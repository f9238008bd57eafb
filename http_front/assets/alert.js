// The alert's explanation as a horizontal bar chart: features pushing toward the alert in red,
// against it in blue. Marks the canvas once drawn (the browser tests look for it).
(function () {
  const canvas = document.getElementById("contributions");
  if (!canvas) return;
  const evidence = JSON.parse(canvas.dataset.explanation || "[]");
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: evidence.map((e) => e.feature + " = " + e.value),
      datasets: [{
        label: "contribution (log-odds)",
        data: evidence.map((e) => e.contribution),
        backgroundColor: evidence.map((e) => (e.contribution >= 0 ? "#c0392b" : "#2e86c1")),
      }],
    },
    options: { indexAxis: "y", animation: false, responsive: true, plugins: { legend: { display: false } } },
  });
  canvas.dataset.drawn = String(evidence.length);
})();
