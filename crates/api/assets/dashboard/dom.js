// The one DOM helper the dashboard's scripts share (loaded first; each script takes it
// from window.FederationDom).
"use strict";

window.FederationDom = (function () {
  // An element with attributes (`class`, `data-*`, `aria-*` and `role` as attributes,
  // anything else as a property) and children (null and undefined left out).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  return { el };
})();
