// The dashboard's notification channels panel: each channel's kind, whether it is
// enabled, its newest delivery (status and time) and its failures in the last hour,
// from GET /api/fed/channels every 15 s while the fleet view is shown. It never shows a
// URL or a secret (the API never returns a secret; the URL is not shown at all). A
// service without notifications (503) or a key without access hides the panel.
"use strict";

(function () {
  const KEY_STORE = "federation.apiKey";
  const EVERY_MS = 15000;
  const $ = (id) => document.getElementById(id);

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function render(channels) {
    const body = $("channel-rows");
    body.replaceChildren();
    for (const c of channels) {
      const tr = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = c.name;
      tr.appendChild(name);
      cell(tr, c.kind);
      cell(tr, c.enabled ? "yes" : "no");
      const last = c.last_delivery;
      if (last) {
        cell(tr, last.status + (last.event === "test" ? " (test)" : ""), "delivery " + last.status);
        const when = cell(tr, ago(last.at));
        when.title = last.at;
      } else {
        cell(tr, "none yet", "delivery none");
        cell(tr, "");
      }
      cell(tr, String(c.failures_last_hour), c.failures_last_hour > 0 ? "failures some" : "failures");
      body.appendChild(tr);
    }
    $("channels-empty").hidden = channels.length > 0;
  }

  async function refresh() {
    const panel = $("channels");
    if (!panel || $("fleet").hidden) return;
    const key = sessionStorage.getItem(KEY_STORE) || "";
    const headers = { Accept: "application/json" };
    if (key) headers["X-API-Key"] = key;
    try {
      const resp = await fetch("/api/fed/channels", { headers, cache: "no-store" });
      if (!resp.ok) {
        panel.hidden = true;
        return;
      }
      render(await resp.json());
      panel.hidden = false;
    } catch (_) {
      panel.hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, EVERY_MS);
    // The fleet view appears after the key is accepted: look again then.
    new MutationObserver(refresh).observe($("fleet"), { attributes: true, attributeFilter: ["hidden"] });
  });
})();
