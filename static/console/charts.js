// The deployment Overview's health charts (templates/deployments/deployment/_charts.html#charts): draws the
// stored series with plotly.js, marks rollouts on the time axis, and fetches new points from the metrics API
// when the deployment's live socket says some were stored (it swaps in #metrics-stamp), or every
// data-poll-s seconds where Prometheus holds the series. Data comes in data- attributes and from the API:
// the Content-Security-Policy runs no inline script.
(() => {
  const CHARTS = {
    latency: [["latency_p50_ms", "p50"], ["latency_p95_ms", "p95"], ["latency_p99_ms", "p99"]],
    throughput: [["throughput_rps", "requests/s"]],
    errors: [["error_rate_4xx_pct", "4xx %"], ["error_rate_5xx_pct", "5xx %"]],
    cpu: [["cpu_pct", "CPU %"]],
    memory: [["memory_bytes", "memory"]],
    replicas: [["ready_replicas", "ready"], ["desired_replicas", "desired"]],
    batch: [["batch_size_mean", "rows per call"]],
  };
  const Y_AXES = {memory: {ticksuffix: "B", tickformat: ".3~s", rangemode: "tozero"},
                  errors: {ticksuffix: " %", rangemode: "tozero"}, cpu: {ticksuffix: " %", rangemode: "tozero"},
                  replicas: {rangemode: "tozero", dtick: 1}};
  let current = null;
  let poller = null;

  function traces(chart, series, times) {
    return CHARTS[chart].map(([metric, label]) => ({
      x: times, y: series.metrics[metric], name: label, type: "scatter", mode: "lines+markers",
      marker: {size: 3}, line: {width: 1.5}, connectgaps: false,
    }));
  }

  // A rollout: a dotted line where it started, labelled with its revision, and its span shaded.
  function markers(rollouts, start, end) {
    const shapes = [];
    const annotations = [];
    for (const rollout of rollouts) {
      const began = new Date(rollout.started_at);
      const ended = rollout.finished_at ? new Date(rollout.finished_at) : end;
      if (ended < start || began > end) continue;
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: began, x1: ended, y0: 0, y1: 1,
                   fillcolor: "#7a8aa0", opacity: 0.12, line: {width: 0}, layer: "below"});
      shapes.push({type: "line", xref: "x", yref: "paper", x0: began, x1: began, y0: 0, y1: 1,
                   line: {color: "#5a6a80", width: 1, dash: "dot"}});
      annotations.push({x: began, xref: "x", y: 1, yref: "paper", text: `rev ${rollout.revision}`,
                        hovertext: `Revision ${rollout.revision}: ${rollout.action}, ${rollout.status}`,
                        showarrow: false, xanchor: "right", yanchor: "top", font: {size: 10}});
    }
    return {shapes, annotations};
  }

  function draw(section, series) {
    const times = series.times.map((time) => new Date(time));
    const start = new Date(series.start);
    const end = new Date(series.end);
    const rollouts = JSON.parse(section.dataset.rollouts || "[]");
    const grid = section.querySelector(".chart-grid");
    if (times.length) {
      grid.hidden = false;
      section.querySelector("#no-metrics")?.remove();
    }
    if (grid.hidden) return;
    for (const element of section.querySelectorAll(".metric-chart")) {
      const chart = element.dataset.chart;
      const layout = {
        title: {text: element.getAttribute("aria-label"), font: {size: 13}, x: 0, xanchor: "left"},
        height: 220, margin: {l: 56, r: 16, t: 32, b: 32}, showlegend: CHARTS[chart].length > 1,
        legend: {orientation: "h", x: 1, xanchor: "right", y: 1.15},
        xaxis: {type: "date", range: [start, end]}, yaxis: Y_AXES[chart] || {rangemode: "tozero"},
        hovermode: "x unified", ...markers(rollouts, start, end),
      };
      window.Plotly.react(element, traces(chart, series, times), layout, {displayModeBar: false, responsive: true});
    }
  }

  async function refresh(section) {
    if (!section.isConnected) return stop();
    try {
      const response = await fetch(section.dataset.metricsUrl, {credentials: "same-origin",
                                                                headers: {Accept: "application/json"}});
      if (response.ok) draw(section, await response.json());
    } catch (error) {
      // the console is restarting or the network dropped: the next tick tries again
    }
  }

  function stop() {
    if (poller) clearInterval(poller);
    poller = null;
  }

  function start(section) {
    stop();
    current = section;
    if (section.dataset.series) draw(section, JSON.parse(section.dataset.series));
    const seconds = Number(section.dataset.pollS);
    if (seconds > 0) poller = setInterval(() => refresh(section), Math.max(1, seconds) * 1000);
  }

  document.addEventListener("htmx:load", (event) => {
    if (!window.Plotly || !(event.target instanceof Element)) return;
    if (event.target.id === "metrics-stamp") {
      if (current) refresh(current);
      return;
    }
    const section = event.target.closest("#charts[data-metrics-url]");
    if (section) start(section);
  });

  // The variation choice applies at once (the form's Show button does the same without JavaScript).
  document.addEventListener("change", (event) => {
    if (event.target.id === "chart-variation-select") event.target.form.submit();
  });
})();
