// The dashboard's incidents panel: open incidents (many projects offline together),
// then the last few resolved ones, each with its members (linked to their project
// pages), its start and its length. Read from GET /api/fed/incidents while the fleet
// view is shown: every 10 s, and soon after the change stream brings a status change
// (dashboard.js sends "federation:change"). A service that records no incidents (503)
// or a key without access hides the panel.
"use strict";

(function () {
  const KEY_STORE = "federation.apiKey";
  const EVERY_MS = 10000;
  const AFTER_CHANGE_MS = 500;
  const RESOLVED_SHOWN = 5;
  const $ = (id) => document.getElementById(id);
  let timer = null;

  const el = window.FederationDom.el;

  function length(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  // An open incident's length grows with the clock; a resolved one's is fixed.
  function lengthOf(i) {
    if (i.state === "open") return (Date.now() - Date.parse(i.started_at)) / 1000;
    return i.length_seconds;
  }

  function member(m) {
    const link = el("a", { href: "#/p/" + encodeURIComponent(m.slug) }, m.slug);
    link.setAttribute("aria-label", "project " + m.slug + (m.back_at ? ", back" : ", offline"));
    return el(
      "span",
      { class: "member" + (m.back_at ? " back" : ""), "data-slug": m.slug, title: m.back_at ? "back at " + m.back_at : "offline since " + m.offline_at },
      link,
      m.back_at ? " (back)" : "",
    );
  }

  function item(i) {
    const started = el("time", { dateTime: i.started_at }, i.started_at);
    return el(
      "li",
      { class: "incident " + i.state, "data-incident": String(i.id), "data-state": i.state },
      el("span", { class: "state" }, i.state === "open" ? "Open" : "Resolved"),
      el("span", { class: "description" }, i.description),
      el(
        "div",
        { class: "when" },
        "started ",
        started,
        ", ",
        el("span", { class: "length", "data-started": i.started_at, "data-state": i.state }, length(lengthOf(i))),
        i.state === "open" ? " so far" : "",
      ),
      el("div", { class: "members" }, i.members.length + " projects: ", ...i.members.map(member)),
    );
  }

  function render(open, resolved) {
    const shown = open.concat(resolved.slice(0, RESOLVED_SHOWN));
    $("incident-list").replaceChildren(...shown.map(item));
    $("incidents-none").hidden = open.length > 0;
  }

  function tickLengths() {
    for (const span of document.querySelectorAll("#incident-list .length[data-state='open']")) {
      span.textContent = length((Date.now() - Date.parse(span.dataset.started)) / 1000);
    }
  }

  async function read(query) {
    const key = sessionStorage.getItem(KEY_STORE) || "";
    const headers = { Accept: "application/json" };
    if (key) headers["X-API-Key"] = key;
    const resp = await fetch("/api/fed/incidents?" + query, { headers, cache: "no-store" });
    if (!resp.ok) throw new Error(String(resp.status));
    return resp.json();
  }

  async function refresh() {
    const panel = $("incidents");
    if (!panel || $("fleet").hidden) return;
    try {
      const [open, resolved] = await Promise.all([
        read("state=open&limit=50"),
        read("state=resolved&limit=" + RESOLVED_SHOWN),
      ]);
      render(open, resolved);
      panel.hidden = false;
    } catch (_) {
      panel.hidden = true;
    }
  }

  function soon() {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      refresh();
    }, AFTER_CHANGE_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, EVERY_MS);
    setInterval(tickLengths, 1000);
    document.addEventListener("federation:change", soon);
    // The fleet view appears after the key is accepted: look again then.
    new MutationObserver(refresh).observe($("fleet"), { attributes: true, attributeFilter: ["hidden"] });
  });
})();
