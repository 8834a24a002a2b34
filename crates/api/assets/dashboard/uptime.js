// Uptime on the dashboard: 90-day bars (one cell per UTC day, as the public status page
// draws them), a project's figures, and its outages from its history. Loaded before
// dashboard.js, which calls window.FederationUptime. Reports come from
// GET /api/fed/projects/{slug}/uptime and GET /api/fed/uptime (docs/uptime.md).
"use strict";

window.FederationUptime = (function () {
  const WINDOW = "90d";
  const CACHE_MS = 60 * 1000;
  const PARALLEL = 4;

  const el = window.FederationDom.el;

  // The thresholds of the status page's bars (crates/api/src/status_page/bars.rs).
  function dayClass(p) {
    if (p === null || p === undefined) return "d-none";
    if (p >= 99.9) return "d-full";
    if (p >= 99) return "d-high";
    if (p >= 95) return "d-mid";
    return "d-low";
  }

  // Two decimals, rounded down (99.999 % is not 100 %).
  function percent(p) {
    if (p === null || p === undefined) return "no data";
    if (p >= 100) return "100%";
    return (Math.floor(Math.max(0, p) * 100) / 100).toFixed(2) + "%";
  }

  function duration(seconds) {
    const s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  // A report's bar: `days` of {day, uptime_percent, outages}, oldest first.
  function bar(report) {
    const b = el("div", {
      class: "ubar",
      role: "img",
      "aria-label": "Uptime over 90 days: " + percent(report.uptime_percent),
    });
    for (const d of report.days || []) {
      let title = d.day + ": " + percent(d.uptime_percent);
      if (d.outages) title += ", " + d.outages + (d.outages === 1 ? " outage" : " outages");
      b.append(el("span", { class: dayClass(d.uptime_percent), title }));
    }
    return b;
  }

  // Reports by path, kept a few minutes; at most PARALLEL requests at once.
  const cache = new Map();
  const queue = [];
  let running = 0;

  function pump() {
    while (running < PARALLEL && queue.length) {
      const job = queue.shift();
      running += 1;
      job.fetchJson(job.path)
        .then((r) => {
          cache.set(job.path, { at: Date.now(), report: r });
          job.resolve(r);
        }, job.reject)
        .finally(() => {
          running -= 1;
          pump();
        });
    }
  }

  function cached(path) {
    const hit = cache.get(path);
    return hit && Date.now() - hit.at < CACHE_MS ? hit.report : null;
  }

  const pending = new Map();

  // One request per path at a time, however many cells ask while it runs; `fresh`
  // skips the cache (the project page shows the report as it is now).
  function load(fetchJson, path, fresh) {
    const hit = fresh ? null : cached(path);
    if (hit) return Promise.resolve(hit);
    if (pending.has(path)) return pending.get(path);
    const p = new Promise((resolve, reject) => {
      queue.push({ fetchJson, path, resolve, reject });
      pump();
    }).finally(() => pending.delete(path));
    pending.set(path, p);
    return p;
  }

  function projectPath(slug) {
    return `/api/fed/projects/${encodeURIComponent(slug)}/uptime?window=${WINDOW}`;
  }

  function groupPath(tag) {
    return `/api/fed/uptime?window=${WINDOW}` + (tag ? "&tag=" + encodeURIComponent(tag) : "");
  }

  // Fills a table cell with the project's bar: at once from the cache, else when loaded.
  function fillCell(td, slug, fetchJson) {
    const path = projectPath(slug);
    const show = (r) => td.replaceChildren(bar(r), el("span", { class: "upct" }, percent(r.uptime_percent)));
    const hit = cached(path);
    if (hit) return show(hit);
    td.textContent = "…";
    load(fetchJson, path).then(show, () => (td.textContent = "—"));
  }

  // The fleet's (or a tag's) bar into `box`.
  function fillGroup(box, tag, fetchJson) {
    load(fetchJson, groupPath(tag)).then(
      (r) =>
        box.replaceChildren(
          el(
            "p",
            { class: "group-line" },
            el("strong", {}, tag ? "Tag " + tag : "Fleet"),
            ` — ${percent(r.uptime_percent)} over 90 days, ${r.outages} outage${r.outages === 1 ? "" : "s"}`,
          ),
          bar(r),
        ),
      () => box.replaceChildren(el("p", {}, "Uptime unavailable")),
    );
  }

  // What a transition's reason means, for the outage list.
  const CAUSES = {
    heartbeat_timeout: "no heartbeat within the offline threshold",
    heartbeat_late: "heartbeats late",
    self_reported: "the project reported it",
    heartbeat: "a heartbeat arrived",
    maintenance_started: "maintenance started",
    maintenance_ended: "maintenance ended",
  };

  function cause(reason) {
    if (!reason) return "no reason recorded";
    const known = CAUSES[reason];
    return known ? `${known} (${reason})` : reason;
  }

  // Offline stretches from a history (newest first, as the API gives it): start, end
  // (null while ongoing), cause, and what ended it. Newest first.
  function outages(history, now) {
    const out = [];
    let open = null;
    for (const t of [...history].reverse()) {
      if (t.to === "offline" && !open) {
        open = { start: t.at, end: null, cause: t.reason, recovery: null };
      } else if (open && t.to !== "offline") {
        open.end = t.at;
        open.recovery = t.reason;
        out.push(open);
        open = null;
      }
    }
    if (open) out.push(open);
    for (const o of out) {
      o.seconds = ((o.end ? Date.parse(o.end) : now) - Date.parse(o.start)) / 1000;
    }
    return out.reverse();
  }

  // The project page's uptime: figures, bar and outage list.
  function fillProject(box, list, slug, history, fetchJson) {
    load(fetchJson, projectPath(slug), true).then(
      (r) => {
        const figures = el(
          "p",
          { class: "group-line" },
          `${percent(r.uptime_percent)} over 90 days · ${r.outages} outage${r.outages === 1 ? "" : "s"}` +
            (r.mttr_seconds !== null ? ` · mean time to recovery ${duration(r.mttr_seconds)}` : "") +
            (r.longest_outage_seconds ? ` · longest ${duration(r.longest_outage_seconds)}` : "") +
            (r.unknown_seconds ? ` · ${duration(r.unknown_seconds)} unknown` : ""),
        );
        box.replaceChildren(figures, bar(r));
      },
      () => box.replaceChildren(el("p", {}, "Uptime unavailable")),
    );
    const found = outages(history, Date.now());
    list.replaceChildren(
      ...found.map((o) =>
        el(
          "li",
          { class: o.end ? "outage" : "outage ongoing", "data-cause": o.cause || "" },
          el("time", { dateTime: o.start }, o.start),
          ` — ${o.end ? duration(o.seconds) : "ongoing, " + duration(o.seconds) + " so far"}: `,
          el("span", { class: "cause" }, cause(o.cause)),
          o.recovery ? el("span", { class: "reason" }, "ended: " + cause(o.recovery)) : null,
        ),
      ),
    );
    if (!found.length) list.replaceChildren(el("li", {}, "No outage in the history kept"));
  }

  // One bar per tag (`tags`: [key, as written]) into `list`, each loaded in turn.
  function fillTags(list, tags, fetchJson) {
    list.replaceChildren(
      ...tags.map(([key, shown]) => {
        const box = el("div", { class: "tag-line", "data-tag": key });
        box.append(el("p", { class: "group-line" }, el("strong", {}, "Tag " + shown), " — …"));
        fillGroup(box, shown, fetchJson);
        return box;
      }),
    );
    if (!tags.length) list.replaceChildren(el("p", {}, "No tags"));
  }

  return { bar, percent, outages, fillCell, fillGroup, fillProject, fillTags, dayClass };
})();
