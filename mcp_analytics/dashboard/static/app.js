// The dashboard's only script: ECharts draws the charts from the JSON specs the server
// puts in data-chart attributes, and HTMX reloads the content region for auto-refresh (no inline script: CSP).
(function () {
  "use strict";

  var PAUSE_KEY = "mcpa.refreshPaused";
  var paused = window.localStorage.getItem(PAUSE_KEY) === "1";
  var typing = false;
  // series colours in order: calls, errors / p50, p95, p99 / status classes
  var PALETTE = ["#3559e0", "#d64545", "#e8a317", "#2e9d6a", "#8a5cd1", "#6c757d"];

  function chartOption(spec) {
    if (spec.kind === "spark") {
      return {
        animation: false,
        color: PALETTE,
        grid: { left: 1, right: 1, top: 3, bottom: 3 },
        xAxis: { type: "category", show: false, data: spec.x, boundaryGap: false },
        // from zero, or lower when a series goes negative (an overspent error budget)
        yAxis: { type: "value", show: false, min: function (v) { return Math.min(0, v.min); } },
        tooltip: { trigger: "axis", confine: true },
        series: spec.series.map(function (s) {
          return { name: s.name, type: "line", data: s.data, symbol: "none",
                   lineStyle: { width: 1.5 }, areaStyle: { opacity: 0.15 } };
        })
      };
    }
    var axes = spec.axes && spec.axes.length ? spec.axes : [""];
    return {
      animation: false,
      color: PALETTE,
      tooltip: { trigger: "axis", confine: true },
      legend: { top: 0 },
      grid: { left: 60, right: 20, top: 34, bottom: 36 },
      xAxis: { type: "category", data: spec.x },
      yAxis: axes.map(function (name) { return { type: "value", name: name }; }),
      dataZoom: spec.x.length > 72 ? [{ type: "inside" }] : [],
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: spec.kind === "bar" ? "bar" : "line",
          data: s.data,
          yAxisIndex: s.axis || 0,
          stack: spec.stack ? "total" : undefined,
          showSymbol: spec.x.length <= 48,
          connectNulls: false
        };
      })
    };
  }

  function drawCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var previous = window.echarts.getInstanceByDom(el);
      if (previous) { previous.dispose(); }
      el.style.height = (el.getAttribute("data-height") || "260") + "px";
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(chartOption(JSON.parse(el.getAttribute("data-chart"))));
      el.setAttribute("data-drawn", "yes");
    });
  }

  function disposeCharts(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts && window.echarts.getInstanceByDom(el);
      if (chart) { chart.dispose(); }
    });
  }

  function showRefreshState() {
    var button = document.getElementById("refresh-toggle");
    var state = document.getElementById("refresh-state");
    if (!button || !state) { return; }
    var seconds = Number(document.body.getAttribute("data-refresh-ms")) / 1000;
    button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    state.textContent = paused ? "paused" : "every " + seconds + " s";
  }

  function busy(main) {
    var active = document.activeElement;
    return typing || (active && main.contains(active) &&
      /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
  }

  function refresh() {
    var main = document.getElementById("content");
    var url = main && main.getAttribute("data-refresh-url");
    if (!url || paused || document.hidden || busy(main) || !window.htmx) { return; }
    window.htmx.ajax("GET", url, { target: "#content", swap: "innerHTML" });
  }

  function wireWindowPicker(root) {
    root.querySelectorAll("#window-select").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.value !== "custom") { select.form.submit(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.getElementById("content");
    var body = document.body;
    var interval = Math.max(1000, Number(body.getAttribute("data-refresh-ms")) || 10000);
    body.setAttribute("data-refreshes", "0");
    drawCharts(document);
    wireWindowPicker(document);
    showRefreshState();
    var toggle = document.getElementById("refresh-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        paused = !paused;
        window.localStorage.setItem(PAUSE_KEY, paused ? "1" : "0");
        showRefreshState();
      });
    }
    if (main) {
      main.addEventListener("input", function () { typing = true; });
      main.addEventListener("htmx:beforeSwap", function () { disposeCharts(main); });
      main.addEventListener("htmx:afterSettle", function () {
        drawCharts(main);
        wireWindowPicker(main);
        body.setAttribute("data-refreshes", String(Number(body.getAttribute("data-refreshes")) + 1));
      });
    }
    document.body.addEventListener("htmx:configRequest", function (event) {
      event.detail.headers["X-CSRF-Token"] = body.getAttribute("data-csrf") || "";
    });
    window.setInterval(refresh, interval);
    window.addEventListener("resize", function () {
      document.querySelectorAll("[data-chart]").forEach(function (el) {
        var chart = window.echarts && window.echarts.getInstanceByDom(el);
        if (chart) { chart.resize(); }
      });
    });
  });
})();
