// The federation dashboard: the whole catalog loaded once, then kept current by the
// change stream (GET /api/fed/events) read with fetch(), so the API key travels in the
// X-API-Key header (never in a URL). The key lives in sessionStorage: this tab only.
"use strict";

(function () {
  const el = window.FederationDom.el;
  const KEY_STORE = "federation.apiKey";
  const PAGE_SIZE = 100;
  const STATUS_ORDER = { online: 0, degraded: 1, offline: 2 };

  const state = {
    key: sessionStorage.getItem(KEY_STORE) || "",
    projects: new Map(),
    revision: 0,
    sort: { field: "slug", dir: 1 },
    page: 0,
    stream: null,
    retryMs: 1000,
    dirty: false,
    liveness: null,
    rowsMarked: false,
  };

  const $ = (id) => document.getElementById(id);
  const Uptime = window.FederationUptime;
  const fetchJson = async (path) => (await api(path)).json();

  function headers(extra) {
    const h = Object.assign({ Accept: "application/json" }, extra || {});
    if (state.key) h["X-API-Key"] = state.key;
    return h;
  }

  class AuthError extends Error {}

  async function api(path) {
    const resp = await fetch(path, { headers: headers(), cache: "no-store" });
    if (resp.status === 401 || resp.status === 403) throw new AuthError(String(resp.status));
    if (!resp.ok) throw new Error(path + ": " + resp.status);
    return resp;
  }

  // ---- connection state -------------------------------------------------------
  function connection(kind, text) {
    const el = $("connection");
    el.dataset.state = kind;
    el.textContent = text;
  }

  // ---- login ------------------------------------------------------------------
  function showLogin(message) {
    $("login").hidden = false;
    $("fleet").hidden = true;
    $("project").hidden = true;
    $("logout").hidden = true;
    $("login-error").textContent = message || "";
    connection("lost", "Not signed in");
    $("login-key").focus();
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("login-key").value.trim();
    $("login-key").value = "";
    sessionStorage.setItem(KEY_STORE, state.key);
    start();
  });

  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    state.key = "";
    stopStream();
    showLogin("");
  });

  // ---- loading and the stream ------------------------------------------------
  async function loadAll() {
    const resp = await api("/api/fed/projects");
    const list = await resp.json();
    state.projects = new Map(list.map((p) => [p.slug, p]));
    state.revision = Number(resp.headers.get("X-Federation-Index") || 0);
    refreshTags();
    schedule();
  }

  // Heartbeats that change no status are not changes: refresh their times now and then.
  async function refreshLiveness() {
    if (document.visibilityState !== "visible") return;
    try {
      const list = await (await api("/api/fed/projects")).json();
      for (const p of list) {
        const have = state.projects.get(p.slug);
        if (have && (p.last_heartbeat_at || "") > (have.last_heartbeat_at || "")) {
          have.last_heartbeat_at = p.last_heartbeat_at;
          have.version = p.version;
        }
      }
      schedule();
    } catch (_) {
      /* the stream's state tells about the connection */
    }
  }

  function stopStream() {
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  function apply(kind, data) {
    switch (kind) {
      case "registered":
      case "updated":
        if (data.project) state.projects.set(data.slug, data.project);
        refreshTags();
        break;
      case "deleted":
        state.projects.delete(data.slug);
        break;
      case "transition":
        if (data.project) state.projects.set(data.slug, data.project);
        if (currentSlug() === data.slug) loadHistory(data.slug);
        break;
      case "flapping":
      case "stable":
        if (data.project) state.projects.set(data.slug, data.project);
        break;
      default:
        return;
    }
    // The incidents panel (incidents.js) looks again when statuses change.
    if (kind === "transition" || kind === "deleted") {
      document.dispatchEvent(new CustomEvent("federation:change", { detail: { kind, slug: data.slug } }));
    }
    schedule();
  }

  async function openStream() {
    stopStream();
    const ctrl = new AbortController();
    state.stream = ctrl;
    connection("connecting", "Connecting…");
    let resp;
    try {
      resp = await fetch("/api/fed/events", {
        headers: headers({ Accept: "text/event-stream", "Last-Event-ID": String(state.revision) }),
        cache: "no-store",
        signal: ctrl.signal,
      });
    } catch (_) {
      return lost(ctrl);
    }
    if (resp.status === 401 || resp.status === 403) {
      stopStream();
      return showLogin("The API key was refused.");
    }
    if (!resp.ok || !resp.body) return lost(ctrl);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          await onFrame(frame);
        }
      }
    } catch (_) {
      /* aborted or cut */
    }
    lost(ctrl);
  }

  async function onFrame(frame) {
    let id = null;
    let kind = "message";
    let data = "";
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") kind = value;
      else if (field === "data") data += value;
    }
    if (kind === "message" && !data) return;
    const payload = data ? JSON.parse(data) : {};
    if (kind === "reset") {
      // Changes were missed: reload, then go on from the reset's revision.
      await loadAll();
    } else if (kind === "ready") {
      state.retryMs = 1000;
      connection("live", "Live");
    } else {
      apply(kind, payload);
    }
    if (id !== null && Number(id) > state.revision) state.revision = Number(id);
  }

  function lost(ctrl) {
    if (state.stream !== ctrl) return; // replaced or stopped on purpose
    state.stream = null;
    connection("lost", "Connection lost — reconnecting…");
    const wait = state.retryMs;
    state.retryMs = Math.min(state.retryMs * 2, 5000);
    setTimeout(() => {
      if (!state.stream && state.key !== null) openStream();
    }, wait);
  }

  // ---- rendering --------------------------------------------------------------
  function schedule() {
    if (state.dirty) return;
    state.dirty = true;
    requestAnimationFrame(() => {
      state.dirty = false;
      render();
    });
  }

  function refreshTags() {
    const select = $("tag-filter");
    const chosen = select.value;
    const tags = new Map();
    for (const p of state.projects.values()) {
      for (const t of p.tags || []) {
        const k = t.toLowerCase();
        if (!tags.has(k)) tags.set(k, t);
      }
    }
    const sorted = [...tags.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    if (select.options.length - 1 === sorted.length) return;
    select.replaceChildren(new Option("any", ""));
    for (const [k, t] of sorted) select.append(new Option(t, k));
    select.value = chosen;
  }

  function filtered() {
    const q = $("search").value.trim().toLowerCase();
    const status = $("status-filter").value;
    const tag = $("tag-filter").value;
    const out = [];
    for (const p of state.projects.values()) {
      if (status && p.status !== status) continue;
      if (tag && !(p.tags || []).some((t) => t.toLowerCase() === tag)) continue;
      if (q && !p.slug.includes(q) && !p.name.toLowerCase().includes(q)) continue;
      out.push(p);
    }
    const { field, dir } = state.sort;
    const key = (p) => {
      if (field === "status") return STATUS_ORDER[p.status];
      if (field === "name") return p.name.toLowerCase();
      return p[field] || "";
    };
    out.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.slug < b.slug ? -1 : 1;
    });
    return out;
  }

  function age(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s ago";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago";
    return Math.floor(s / 86400) + " d ago";
  }


  function badge(p) {
    return el(
      "span",
      {},
      el("span", { class: "badge " + p.status }, p.status),
      p.status_reason ? el("span", { class: "reason" }, p.status_reason) : null,
      p.maintenance
        ? el(
            "span",
            {
              class: "maintenance",
              title: `${p.maintenance.reason} (until ${p.maintenance.until}, by ${p.maintenance.by})`,
            },
            "in maintenance",
          )
        : null,
      p.flapping
        ? el(
            "span",
            {
              class: "flapping",
              title: "Changing status often: notifications are held until it has been stable for the flapping window",
            },
            "flapping",
          )
        : null,
    );
  }

  function row(p) {
    const hub = el("a", { href: p.hub_url, rel: "noopener noreferrer", target: "_blank" }, "hub");
    hub.setAttribute("aria-label", "hub of " + p.slug);
    const since = el("td", { class: "age", "data-since": p.last_heartbeat_at || "" }, age(p.last_heartbeat_at));
    if (p.last_heartbeat_at) since.title = p.last_heartbeat_at;
    return el(
      "tr",
      { "data-slug": p.slug, "data-status": p.status, "data-flapping": p.flapping ? "true" : "false" },
      el("td", { class: "slug" }, el("a", { href: "#/p/" + encodeURIComponent(p.slug) }, p.slug)),
      el("td", { class: "name" }, p.name),
      el("td", { class: "status" }, badge(p)),
      since,
      el("td", { class: "version" }, p.version || "—"),
      el("td", { class: "tags" }, ...(p.tags || []).map((t) => el("span", { class: "tag" }, t))),
      uptimeCell(p.slug),
      el("td", { class: "hub" }, hub),
    );
  }

  function uptimeCell(slug) {
    const td = el("td", { class: "uptime" });
    Uptime.fillCell(td, slug, fetchJson);
    return td;
  }

  // The fleet's bar, or the chosen tag's: fetched again only when the tag changes.
  function groupUptime() {
    const tag = $("tag-filter").value;
    const box = $("group-uptime");
    if (box.dataset.tag === tag && box.childElementCount) return;
    box.dataset.tag = tag;
    Uptime.fillGroup(box, tag, fetchJson);
  }

  function render() {
    const counts = { online: 0, degraded: 0, offline: 0 };
    for (const p of state.projects.values()) counts[p.status] += 1;
    $("count-total").textContent = String(state.projects.size);
    for (const s of Object.keys(counts)) $("count-" + s).textContent = String(counts[s]);
    document.title = `Federation — ${counts.online} online, ${counts.degraded} degraded, ${counts.offline} offline`;

    const rows = filtered();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const from = state.page * PAGE_SIZE;
    const shown = rows.slice(from, from + PAGE_SIZE);
    $("rows").replaceChildren(...shown.map(row));
    if (shown.length && !state.rowsMarked) {
      // The first rows on screen, for the browser's performance timeline (the bench reads it).
      state.rowsMarked = true;
      performance.mark("federation:rows");
    }
    $("table-caption").textContent = `${rows.length} of ${state.projects.size} projects`;
    $("page-info").textContent = rows.length
      ? `Rows ${from + 1}–${from + shown.length} of ${rows.length} (page ${state.page + 1} of ${pages})`
      : "No project matches";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    groupUptime();

    const slug = currentSlug();
    if (slug) renderProject(slug);
  }

  function tickAges() {
    for (const td of document.querySelectorAll("td.age[data-since]")) {
      td.textContent = age(td.dataset.since || null);
    }
  }

  // ---- the project page -------------------------------------------------------
  function currentSlug() {
    const m = location.hash.match(/^#\/p\/(.+)$/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function renderProject(slug) {
    const p = state.projects.get(slug);
    $("project-title").textContent = p ? `${p.name} (${p.slug})` : `${slug}: no such project`;
    const dl = $("project-fields");
    dl.replaceChildren();
    if (!p) return;
    for (const [k, v] of Object.entries(p)) {
      let value;
      if (k === "status") value = badge(p);
      else if (k === "hub_url") value = el("a", { href: v, rel: "noopener noreferrer" }, v);
      else if (k === "last_heartbeat_at") value = v ? `${v} (${age(v)})` : "never";
      else if (k === "tags") value = el("span", {}, ...(v || []).map((t) => el("span", { class: "tag" }, t)));
      else if (v !== null && typeof v === "object") value = el("pre", {}, JSON.stringify(v, null, 2));
      else value = v === null || v === "" ? "—" : String(v);
      dl.append(el("dt", {}, k), el("dd", { "data-field": k }, value));
    }
  }

  async function loadHistory(slug) {
    const ol = $("history");
    try {
      const list = await (await api(`/api/fed/projects/${encodeURIComponent(slug)}/history?limit=1000`)).json();
      Uptime.fillProject($("project-uptime"), $("outages"), slug, list, fetchJson);
      // The timeline shows the newest 100; the outages are read from all 1,000.
      ol.replaceChildren(
        ...list.slice(0, 100).map((t) =>
          el(
            "li",
            { class: t.to },
            el("time", { dateTime: t.at }, t.at),
            `${t.from} → ${t.to}`,
            t.reason ? ` (${t.reason})` : "",
          ),
        ),
      );
      if (!list.length) ol.replaceChildren(el("li", {}, "No transition yet"));
    } catch (e) {
      ol.replaceChildren(el("li", {}, "History unavailable"));
      $("outages").replaceChildren(el("li", {}, "History unavailable"));
    }
  }

  function route() {
    if (!$("login").hidden) return;
    const slug = currentSlug();
    $("fleet").hidden = !!slug;
    $("project").hidden = !slug;
    if (slug) {
      renderProject(slug);
      loadHistory(slug);
      $("project-title").focus?.();
    } else {
      schedule();
    }
  }

  // ---- controls ---------------------------------------------------------------
  for (const id of ["search", "status-filter", "tag-filter"]) {
    $(id).addEventListener("input", () => {
      state.page = 0;
      schedule();
    });
  }
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  // Every tag's bar, fetched when the list is opened.
  $("tag-uptime").addEventListener("toggle", () => {
    if (!$("tag-uptime").open) return;
    const tags = [...$("tag-filter").options].filter((o) => o.value).map((o) => [o.value, o.text]);
    Uptime.fillTags($("tag-uptime-list"), tags, fetchJson);
  });
  $("prev").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    schedule();
  });
  $("next").addEventListener("click", () => {
    state.page += 1;
    schedule();
  });
  for (const b of document.querySelectorAll("th button[data-sort]")) {
    b.addEventListener("click", () => {
      const field = b.dataset.sort;
      state.sort = { field, dir: state.sort.field === field ? -state.sort.dir : 1 };
      for (const th of document.querySelectorAll("th[aria-sort]")) th.setAttribute("aria-sort", "none");
      b.parentElement.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      schedule();
    });
  }
  window.addEventListener("hashchange", route);

  // ---- start ------------------------------------------------------------------
  async function start() {
    $("login").hidden = true;
    try {
      await loadAll();
    } catch (e) {
      if (e instanceof AuthError) return showLogin(state.key ? "The API key was refused." : "");
      connection("lost", "Connection lost — reconnecting…");
      setTimeout(start, 2000);
      return;
    }
    $("logout").hidden = !state.key;
    route();
    openStream();
    if (!state.liveness) {
      state.liveness = setInterval(refreshLiveness, 30000);
      setInterval(tickAges, 1000);
    }
  }

  start();
})();
