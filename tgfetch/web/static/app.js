// tgfetch dashboard: draws the page named by <body data-page> from /api/* and the /events stream.
// Every text from the job (file names, captions, account names, errors) goes in with textContent or
// as an attribute value: never as HTML. Charts are plain SVG built here; nothing is fetched elsewhere.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = 10;
  const page = document.body.dataset.page || "accounts";
  let status = null;
  const colorOf = new Map();

  // ------------------------------------------------------------------ DOM and format helpers

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  }

  function sv(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  }

  function tip(node, text) { node.append(sv("title", {}, text)); return node; }

  function setText(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = Number(n) || 0, i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return i === 0 ? `${v.toFixed(0)} B` : `${v.toFixed(1)} ${units[i]}`;
  }

  function secs(s) {
    s = Math.max(0, Math.round(Number(s) || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (x) => String(x).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }

  function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

  function clock(t) { return t ? new Date(t * 1000).toLocaleString() : "–"; }

  function color(name) {
    if (!colorOf.has(name)) colorOf.set(name, `c${colorOf.size % COLORS}`);
    return colorOf.get(name);
  }

  function cell(value, shown, cls) {
    const td = el("td", { class: cls || "num" }, shown === undefined ? value : shown);
    td.dataset.value = String(value);
    return td;
  }

  function row(attrs, cells) { const tr = el("tr", attrs); tr.append(...cells); return tr; }

  function fill(tableId, rows, empty) {
    const body = document.querySelector(`#${tableId} tbody`);
    if (!body) return;
    body.replaceChildren(...rows);
    if (!rows.length && empty) body.append(el("tr", {}, el("td", { class: "empty", colspan: 20 }, empty)));
  }

  async function getJSON(path) {
    const res = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return res.json();
  }

  // ------------------------------------------------------------------ the summary (every page)

  const SOURCES = { live: "live", "state-db": "read-only, from the state DB", cluster: "cluster, from Redis" };
  const CLUSTER_NOTE = "A cluster keeps no per-file times, paths or runs in Redis: each worker's own state DB has " +
    "them (tgfetch dashboard --state-db on that machine).";

  function isCluster() { return Boolean(status && status.source === "cluster"); }

  function drawSummary(s) {
    setText("s-job", s.job || "(starting)");
    const phase = document.getElementById("s-phase");
    phase.textContent = s.phase + (s.outcome && s.outcome !== s.phase ? ` · last round ${s.outcome}` : "");
    phase.className = `badge ${s.phase}`;
    setText("s-source", SOURCES[s.source] || s.source);
    const left = s.bytes_planned ? 1 - s.bytes_left / s.bytes_planned : (s.files_done ? 1 : 0);
    document.getElementById("s-progress").value = Math.max(0, Math.min(1, left));
    setText("s-files", `${s.files_done} / ${s.files_planned}`);
    setText("s-bytes", `${bytes(s.bytes_planned - s.bytes_left)} / ${bytes(s.bytes_planned)}`);
    setText("s-failures", String(s.failures));
    const measured = s.source === "cluster";  // a cluster's accounts: measured from Redis; live: as planned
    const speed = s.accounts.reduce((a, x) => a + (x.state.startsWith("down") ? (measured ? x.speed_bps : x.est_speed_bps) : 0), 0);
    setText("s-speed", s.source === "state-db" ? "–" : `${bytes(speed)}/s`);
    setText("s-elapsed", secs(s.elapsed_s));
    const range = s.eta_high_s > 0 ? ` (${secs(s.eta_low_s)}–${secs(s.eta_high_s)})` : "";
    setText("s-eta", s.bytes_left ? secs(s.eta_s) + range : "–");
    const ratio = s.ideal_s > 0 ? s.eta_s / s.ideal_s : 0;
    const over = ratio > 10 ? ` (×${Math.round(ratio)})` : ratio > 0 ? ` (+${Math.max(0, Math.round(100 * (ratio - 1)))} %)` : "";
    setText("s-ideal", s.bytes_left ? secs(s.ideal_s) + over : "–");
    setText("s-strategy", s.strategy && s.source !== "cluster" ? `${s.strategy} · round ${s.round}` : s.strategy);
  }

  // ------------------------------------------------------------------ accounts

  const series = { t: [], bytes: {} };

  function addSample(s) {
    const n = series.t.length;
    if (n && s.now <= series.t[n - 1]) return;
    series.t.push(s.now);
    for (const a of s.accounts) {
      if (!series.bytes[a.name]) series.bytes[a.name] = new Array(n).fill(0);
      series.bytes[a.name].push(a.bytes);
    }
    for (const v of Object.values(series.bytes)) if (v.length === n) v.push(n ? v[n - 1] : 0);
    if (series.t.length > 1500) {
      series.t = series.t.filter((_, i) => i % 2 === 0);
      for (const k of Object.keys(series.bytes)) series.bytes[k] = series.bytes[k].filter((_, i) => i % 2 === 0);
    }
  }

  function rates(t, b) {
    const out = [];
    let j = 0;
    for (let i = 1; i < t.length; i += 1) {
      while (j < i - 1 && t[i] - t[j + 1] >= 2) j += 1;  // a window of at least 2 s
      const dt = t[i] - t[j];
      out.push([t[i], dt > 0 ? Math.max(0, (b[i] - b[j]) / dt) : 0]);
    }
    return out;
  }

  function drawSpeed() {
    const chart = document.getElementById("speed-chart");
    const W = 1200, H = 260, L = 80, B = 22, T = 8;
    const lines = Object.entries(series.bytes).map(([name, b]) => [name, rates(series.t, b)]);
    const t0 = series.t[0] || 0, t1 = series.t[series.t.length - 1] || 1;
    const top = Math.max(1, ...lines.flatMap(([, r]) => r.map((p) => p[1])));
    const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - 8);
    const y = (v) => H - B - (v / top) * (H - B - T);
    const kids = [sv("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }),
      sv("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
      sv("text", { class: "label", x: L - 6, y: T + 10, "text-anchor": "end" }, `${bytes(top)}/s`),
      sv("text", { class: "label", x: L - 6, y: H - B, "text-anchor": "end" }, "0"),
      sv("text", { class: "label", x: W - 8, y: H - 6, "text-anchor": "end" }, secs(t1 - t0))];
    for (const [name, r] of lines) {
      if (r.length < 1) continue;
      const points = r.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      kids.push(tip(sv("polyline", { class: `line ${color(name)}`, points }), name));
    }
    chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
    chart.replaceChildren(...kids);
    const legend = document.getElementById("speed-legend");
    legend.replaceChildren(...lines.map(([name]) => el("span", { class: color(name) }, name)));
  }

  function accountRow(a) {
    const tr = row({ class: a.state.startsWith("dead") || a.state === "gone" ? "dead" : "" }, [
      el("td", {}, a.name), el("td", { class: "machine" }, a.machine || ""), el("td", { class: "state" }, a.state),
      cell(a.files), cell(a.bytes, bytes(a.bytes)), cell(a.speed_bps, `${bytes(a.speed_bps)}/s`),
      cell(a.queue_files), cell(a.queue_bytes, bytes(a.queue_bytes)),
      cell(a.inflight_files, `${plural(a.inflight_groups, "group")}, ${plural(a.inflight_files, "file")}`),
      cell(a.est_remaining_s, secs(a.est_remaining_s)), cell(`${a.stolen_in}/${a.stolen_out}`),
      cell(a.backups), cell(a.takeovers), cell(a.handoffs),
      cell(a.flood_waits, `${a.flood_waits} (${Math.round(a.flood_wait_s)} s)` +
        (a.flood_wait_left_s > 0 ? `, ${Math.ceil(a.flood_wait_left_s)} s left` : "")),
      cell(a.errors), el("td", { class: "current", title: a.current }, a.current.split("/").pop()),
    ]);
    tr.dataset.account = a.name;
    const fields = ["name", "machine", "state", "files", "bytes", "speed", "queue_files", "queue_bytes", "inflight", "eta",
      "steals", "backups", "takeovers", "handoffs", "flood_waits", "errors", "current"];
    [...tr.children].forEach((td, i) => { td.dataset.field = fields[i]; });
    return tr;
  }

  // ------------------------------------------------------------------ cluster (status.cluster: every machine)

  function ago(t, now) { return t ? `${secs(now - t)} ago` : "–"; }

  function machineRow(m, now) {
    const tr = row({ class: m.state === "gone" ? "dead" : "" }, [
      el("td", {}, m.name), el("td", { class: "state" }, m.state), el("td", { class: "text" }, m.accounts.join(", ")),
      cell(m.groups_done), cell(m.groups_inflight), cell(m.groups_dead), cell(m.files), cell(m.bytes, bytes(m.bytes)),
      cell(m.steals), cell(m.last_seen, ago(m.last_seen, now)),
    ]);
    tr.dataset.machine = m.name;
    const fields = ["name", "state", "accounts", "groups_done", "groups_inflight", "groups_dead", "files", "bytes",
      "steals", "last_seen"];
    [...tr.children].forEach((td, i) => { td.dataset.field = fields[i]; });
    return tr;
  }

  function deadRow(d) {
    const ids = d.message_ids.slice(0, 10).join(", ") + (d.message_ids.length > 10 ? ", …" : "");
    const tr = row({ class: d.failed ? "state-failed" : "" }, [
      el("td", {}, d.group), el("td", {}, d.account), cell(d.deliveries), el("td", { class: "text" }, d.reason),
      el("td", { class: "text" }, ids), cell(d.files), cell(d.bytes, bytes(d.bytes)),
      el("td", {}, d.failed ? "failed" : "completed since"),
    ]);
    tr.dataset.group = d.group;
    return tr;
  }

  function drawCluster(s) {
    const table = document.getElementById("accounts");
    if (table) table.classList.toggle("cluster", Boolean(s.cluster));
    const panel = document.getElementById("cluster");
    if (!panel) return;
    panel.hidden = !s.cluster;
    if (!s.cluster) return;
    const c = s.cluster;
    setText("cluster-meta", `job ${c.job} (${c.state || "not planned yet"}) · lease ${c.lease_s} s` +
      (c.machine ? ` · this page is served by ${c.machine}` : ""));
    setText("c-groups", `${c.groups_done} / ${c.groups_total}`);
    setText("c-inflight", String(c.groups_inflight));
    setText("c-dead", String(c.groups_dead));
    setText("c-queued", String(c.groups_queued));
    fill("machines", c.machines.map((m) => machineRow(m, s.now)), "no machine registered yet");
    fill("dead-letters", c.dead_letters.map(deadRow), "no dead letter");
    setText("dead-meta", c.dead_letters_total > c.dead_letters.length
      ? `the newest ${c.dead_letters.length} of ${c.dead_letters_total}` : "");
  }

  const accounts = {
    async init() {
      try {
        const s = await getJSON("/api/series");
        series.t = s.t;
        series.bytes = s.bytes;
      } catch (e) { /* the stream fills the chart */ }
    },
    update(s) {
      drawCluster(s);
      fill("accounts", s.accounts.map(accountRow), "no account yet");
      const calls = s.accounts.flatMap((a) => Object.entries(a.api_calls).sort()
        .map(([m, n]) => row({}, [el("td", {}, a.name), el("td", {}, m), cell(n)])));
      fill("api-calls", calls, "no call yet");
      addSample(s);
      drawSpeed();
    },
  };

  // ------------------------------------------------------------------ plan

  let plan = null;

  function drawPlan() {
    const chart = document.getElementById("plan-chart");
    if (!plan) { chart.replaceChildren(); return; }
    const W = 1200, L = 110, R = 10, rowH = 46;
    const now = new Map((status ? status.accounts : []).map((a) => [a.name, a]));
    const widest = Math.max(1, ...plan.accounts.map((a) => a.bytes),
      ...[...now.values()].map((a) => a.bytes + a.queue_bytes));
    const scale = (b) => (b / widest) * (W - L - R);
    const kids = [];
    plan.accounts.forEach((a, i) => {
      const y = 8 + i * rowH;
      kids.push(sv("text", { class: "name", x: L - 8, y: y + 13, "text-anchor": "end" }, a.name));
      kids.push(sv("text", { class: "label", x: L - 8, y: y + 33, "text-anchor": "end" }, "now"));
      let x = L;
      for (const u of a.units) {
        const w = Math.max(u.bytes ? 1 : 0, scale(u.bytes));
        const what = u.album ? `album ${u.group}: ${u.files} files, ${bytes(u.bytes)}` +
          (u.edge ? " (completed across the range edge)" : "") + (u.caption ? ` — ${u.caption}` : "")
          : `${u.count} singles: ${u.files} files, ${bytes(u.bytes)}`;
        const cls = u.album ? `${color(a.name)}${u.edge ? " edge" : ""}` : "single";
        const rect = sv("rect", { class: cls, x: x.toFixed(1), y, width: Math.max(0, w - 0.6).toFixed(1), height: 18 });
        rect.dataset.group = u.group;
        kids.push(tip(rect, what));
        x += w;
      }
      const n = now.get(a.name);
      if (n) {
        const flying = n.inflight_bytes;
        let nx = L;
        for (const [cls, b, label] of [["done", n.bytes, "done"], ["flying", flying, "in flight"],
          ["queued", n.queue_bytes, "queued"]]) {
          const w = scale(b);
          if (w <= 0) continue;
          kids.push(tip(sv("rect", { class: cls, x: nx.toFixed(1), y: y + 22, width: w.toFixed(1), height: 14 }),
            `${a.name} ${label}: ${bytes(b)}`));
          nx += w;
        }
      }
    });
    chart.setAttribute("viewBox", `0 0 ${W} ${Math.max(60, 16 + plan.accounts.length * rowH)}`);
    chart.replaceChildren(...kids);
  }

  function noPlan() {
    return isCluster()
      ? "No plan here: a cluster's plan is its Redis streams (the accounts page shows each account's queue and machine)."
      : "No plan here: the state DB does not keep it (the live dashboard of a running job shows it).";
  }

  const planPage = {
    async init() {
      await this.load();
      setInterval(() => this.load(), 5000);
    },
    async load() {
      try { plan = await getJSON("/api/plan"); } catch (e) { return; }
      if (!plan) {
        setText("plan-meta", noPlan());
        drawPlan();
        return;
      }
      setText("plan-meta", `round ${plan.round}: ${plan.strategy} by ${plan.metric} — makespan ${plan.makespan.toPrecision(4)}, ` +
        `lower bound ${plan.lower_bound.toPrecision(4)}, gap ${(100 * plan.gap).toFixed(1)} %, ` +
        `balance ${plan.balance_ratio.toFixed(3)}; albums split: ${plan.albums_split.length}; ` +
        `range-edge albums: ${plan.edge_albums.length ? plan.edge_albums.join(", ") : "none"}`);
      fill("plan-table", plan.accounts.map((a) => row({}, [el("td", {}, a.name), cell(a.groups), cell(a.albums),
        cell(a.files), cell(a.bytes, bytes(a.bytes)), cell(a.load, Number(a.load).toPrecision(4))])));
      const albums = plan.accounts.flatMap((a) => a.units.filter((u) => u.album).map((u) => [a.name, u]))
        .sort((p, q) => q[1].bytes - p[1].bytes).slice(0, 50);
      fill("plan-albums", albums.map(([name, u]) => row({}, [el("td", {}, u.group), el("td", {}, name), cell(u.files),
        cell(u.bytes, bytes(u.bytes)), el("td", {}, u.edge ? "yes" : ""), el("td", { class: "text" }, u.caption)])),
      "no album");
      drawPlan();
    },
    update() {
      if (!plan) setText("plan-meta", noPlan());
      drawPlan();
    },
  };

  // ------------------------------------------------------------------ timeline

  function drawTimeline(tl) {
    const chart = document.getElementById("timeline-chart");
    const W = 1200, L = 110, R = 10, rowH = 40;
    const n = Math.max(1, ...tl.rows.map((r) => r.bytes.length));
    const top = Math.max(1, ...tl.rows.flatMap((r) => r.bytes));
    const bw = (W - L - R) / n;
    const kids = [];
    tl.rows.forEach((r, i) => {
      const y = 8 + i * rowH;
      kids.push(sv("text", { class: "name", x: L - 8, y: y + 20, "text-anchor": "end" }, r.account));
      kids.push(sv("line", { class: "axis", x1: L, y1: y + 30, x2: W - R, y2: y + 30 }));
      r.bytes.forEach((b, k) => {
        if (!b) return;
        const h = Math.max(1, (b / top) * 28);
        const at = tl.start + k * tl.bucket_s;
        kids.push(tip(sv("rect", { class: color(r.account), x: (L + k * bw).toFixed(1), y: (y + 30 - h).toFixed(1),
          width: Math.max(0.5, bw - 0.5).toFixed(1), height: h.toFixed(1) }),
        `${r.account}: ${r.files[k]} files, ${bytes(b)} at ${clock(at)} (+${tl.bucket_s} s)`));
      });
    });
    const y = 8 + tl.rows.length * rowH;
    kids.push(sv("text", { class: "label", x: L, y: y + 4 }, clock(tl.start)));
    kids.push(sv("text", { class: "label", x: W - R, y: y + 4, "text-anchor": "end" }, clock(tl.start + n * tl.bucket_s)));
    chart.setAttribute("viewBox", `0 0 ${W} ${y + 12}`);
    chart.replaceChildren(...kids);
    setText("timeline-meta", isCluster() ? CLUSTER_NOTE : `from the state DB: buckets of ${tl.bucket_s} s` +
      (tl.rows.length ? "" : " — no file finished yet"));
    fill("timeline-table", tl.rows.map((r) => row({}, [el("td", {}, r.account),
      cell(r.files.reduce((a, b) => a + b, 0)), cell(r.bytes.reduce((a, b) => a + b, 0),
        bytes(r.bytes.reduce((a, b) => a + b, 0))), cell(Math.max(...r.bytes), bytes(Math.max(...r.bytes)))])));
  }

  const timelinePage = {
    async init() { await this.load(); setInterval(() => this.load(), 3000); },
    async load() { try { drawTimeline(await getJSON("/api/timeline")); } catch (e) { /* next time */ } },
    update() { if (isCluster()) setText("timeline-meta", CLUSTER_NOTE); },
  };

  // ------------------------------------------------------------------ files

  const files = {
    offset: 0, limit: 100, timer: null,
    async init() {
      const q = document.getElementById("q");
      q.value = new URLSearchParams(location.search).get("q") || "";
      q.addEventListener("input", () => { clearTimeout(this.timer); this.offset = 0; this.timer = setTimeout(() => this.load(), 250); });
      document.getElementById("prev").addEventListener("click", () => { this.offset = Math.max(0, this.offset - this.limit); this.load(); });
      document.getElementById("next").addEventListener("click", () => { this.offset += this.limit; this.load(); });
      await this.load();
      setInterval(() => { if (!document.hidden) this.load(); }, 3000);
    },
    async load() {
      const q = document.getElementById("q").value;
      const params = new URLSearchParams({ q, limit: this.limit, offset: this.offset });
      let res;
      try { res = await getJSON(`/api/files?${params}`); } catch (e) { setText("files-meta", String(e.message)); return; }
      if (res.total && this.offset >= res.total) { this.offset = 0; return this.load(); }
      const shown = res.rows.length ? `${res.offset + 1}–${res.offset + res.rows.length} of ${res.total}` : "none";
      setText("files-meta", `${shown} matching${q ? ` “${q}”` : ""}` + (isCluster()
        ? " · one row per message of every queued group (account: the planned one, or the one holding it now); " +
          "paths and names are in each worker's own state DB" : ""));
      const chips = Object.entries(res.counts).sort().map(([state, n]) => {
        const b = el("button", { type: "button", class: q === state ? "on" : "" }, `${state} ${n}`);
        b.addEventListener("click", () => { document.getElementById("q").value = q === state ? "" : state; this.offset = 0; this.load(); });
        return b;
      });
      document.getElementById("chips").replaceChildren(...chips);
      fill("files", res.rows.map((f) => {
        const tr = row({ class: `state-${f.state}` }, [cell(f.message_id), el("td", {}, f.chat),
          el("td", { class: "state" }, f.state), el("td", {}, f.account), cell(f.size, bytes(f.size)),
          el("td", { class: "text" }, f.path), el("td", { class: "text" }, f.name),
          el("td", { class: "text caption" }, f.caption), el("td", { class: "text" }, f.error)]);
        tr.dataset.message = String(f.message_id);
        return tr;
      }), "no file matches");
    },
    update() {},
  };

  // ------------------------------------------------------------------ history

  function drawRuns(runs) {
    const chart = document.getElementById("runs-chart");
    const shown = runs.slice(0, 40).reverse();
    const W = 1200, H = 140, L = 60, B = 18;
    const top = Math.max(1, ...shown.map((r) => Math.max(r.download_s, r.ideal_s)));
    const bw = Math.min(80, (W - L) / Math.max(1, shown.length));
    const kids = [sv("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }),
      sv("text", { class: "label", x: L - 6, y: 12, "text-anchor": "end" }, secs(top))];
    shown.forEach((r, i) => {
      const x = L + i * bw;
      for (const [cls, v, off] of [["ideal", r.ideal_s, 0], ["actual", r.download_s, 0.45]]) {
        const h = (v / top) * (H - B - 6);
        kids.push(tip(sv("rect", { class: cls, x: (x + off * bw).toFixed(1), y: (H - B - h).toFixed(1),
          width: Math.max(1, bw * 0.42).toFixed(1), height: h.toFixed(1) }),
        `run ${r.id}: ${cls === "ideal" ? "ideal" : "download"} ${secs(v)}`));
      }
    });
    chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
    chart.replaceChildren(...kids);
  }

  const historyPage = {
    async init() { await this.load(); setInterval(() => this.load(), 10000); },
    async load() {
      let h;
      try { h = await getJSON("/api/history"); } catch (e) { return; }
      drawRuns(h.runs);
      fill("runs", h.runs.map((r) => row({}, [cell(r.id), el("td", {}, clock(r.started)), el("td", {}, r.strategy),
        el("td", { class: "text" }, r.accounts.join(", ")), cell(r.files), cell(r.bytes, bytes(r.bytes)),
        cell(r.download_s, secs(r.download_s)), cell(r.ideal_s, secs(r.ideal_s)),
        cell(r.ideal_s > 0 ? r.download_s / r.ideal_s : 0, r.ideal_s > 0 ? (r.download_s / r.ideal_s).toFixed(2) : "–"),
        el("td", {}, r.outcome)])), "no finished run recorded yet");
      fill("speeds", h.speeds.map((s) => row({}, [el("td", {}, s.account), cell(s.bytes_per_s, `${bytes(s.bytes_per_s)}/s`),
        cell(s.overhead_s, `${(1000 * s.overhead_s).toFixed(0)} ms`), cell(s.samples), el("td", {}, clock(s.updated))])),
      "no speed learned yet");
    },
    update() { setText("history-meta", isCluster() ? CLUSTER_NOTE : ""); },
  };

  // ------------------------------------------------------------------ wiring

  const pages = { accounts, plan: planPage, timeline: timelinePage, files, history: historyPage };
  const current = pages[page] || accounts;

  function onStatus(s) {
    status = s;
    drawSummary(s);
    current.update(s);
  }

  function connect() {
    const conn = document.getElementById("conn");
    const events = new EventSource("/events");
    events.addEventListener("status", (e) => {
      conn.textContent = "live";
      conn.className = "conn live";
      onStatus(JSON.parse(e.data));
    });
    events.addEventListener("error", () => {
      conn.textContent = "reconnecting…";
      conn.className = "conn lost";
    });
  }

  for (const a of document.querySelectorAll("header nav a")) {
    if (a.dataset.nav === page) a.classList.add("here");
  }
  current.init().finally(connect);
})();
