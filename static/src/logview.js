// The log viewer. The server renders one page of a log (the tail by
// default) so it reads without JavaScript; this script makes it live:
// it follows a running log over a websocket, keeps a bounded window of
// lines in the DOM (earlier and later pages load as the reader scrolls,
// far-away lines are dropped), groups lines into collapsible steps,
// highlights permalinks (#L120) and searches the whole log on the server.
//
// Every line's HTML comes from the server (internal/termhtml), which
// escapes everything the build printed; this script only ever inserts
// that HTML or text set through textContent.

const PAGE = 1000; // lines per page fetched
const MAX_DOM = 3000; // most lines kept in the DOM
const EDGE = 600; // px from an edge of the box that loads the next page
const MAX_MATCHES = 1000;
const FLUSH_MS = 100; // live lines wait at most this long (plus a frame) for the DOM
const CATCHUP_MS = 500; // how often a busy live viewer checks how far behind it is
const MAX_BEHIND = PAGE; // lines behind the log's end past which it jumps to the tail

const STATUS_CLASS = {
  ok: "bg-emerald-50 text-emerald-800 ring-emerald-600/30",
  bad: "bg-red-50 text-red-800 ring-red-600/30",
  run: "bg-sky-50 text-sky-800 ring-sky-600/30",
  wait: "bg-amber-50 text-amber-900 ring-amber-600/30",
  other: "bg-slate-100 text-slate-700 ring-slate-500/30",
};

function statusKind(s) {
  if (["succeeded", "live", "deployed", "pass", "approved", "active", "healthy"].includes(s)) return "ok";
  if (["failed", "rejected", "fail", "crashed", "disabled", "interrupted"].includes(s)) return "bad";
  if (["running", "deploying", "starting", "restarting"].includes(s)) return "run";
  if (["queued", "pending", "waiting"].includes(s)) return "wait";
  return "other";
}

const STATUS_ICON = { ok: "✓", bad: "✗", run: "◌", wait: "…", other: "•" };

function statusIcon(s) {
  if (["canceled", "disabled", "superseded", "rolled_back"].includes(s)) return "–";
  return STATUS_ICON[statusKind(s)];
}

function formatDuration(ms) {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s) % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function stepLines(s) {
  if (s.first <= 0) return "not started";
  if (s.status === "running") return `from line ${s.first}`;
  if (s.last < s.first) return "no output";
  if (s.last === s.first) return `line ${s.first}`;
  return `lines ${s.first}–${s.last}`;
}

// stepOf mirrors handlers/log_pages.go: the index of the step that printed
// line n, or -1.
function stepOf(steps, n) {
  let best = -1;
  steps.forEach((s, i) => {
    if (s.first > 0 && s.first <= n && (best < 0 || s.first >= steps[best].first)) best = i;
  });
  if (best < 0) return -1;
  const s = steps[best];
  if (s.status === "running") return best;
  return n <= s.last ? best : -1;
}

function lineHTML(n, html) {
  return `<div class="log-line" id="L${n}"><a class="log-n" href="#L${n}" aria-label="Line ${n}">${n}</a><span class="log-t">${html}</span></div>`;
}

// The 256-colour palette (term-fgx/bgx 16–255) is generated here rather
// than shipped in every page's CSS.
function paletteCSS() {
  const rules = [];
  const hex = (r, g, b) => "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
  const lv = [0, 95, 135, 175, 215, 255];
  for (let i = 16; i < 256; i++) {
    let c;
    if (i < 232) {
      const j = i - 16;
      c = hex(lv[Math.floor(j / 36)], lv[Math.floor(j / 6) % 6], lv[j % 6]);
    } else {
      const g = 8 + (i - 232) * 10;
      c = hex(g, g, g);
    }
    rules.push(`.term-fgx${i}{color:${c}}`, `.term-bgx${i}{background-color:${c}}`);
  }
  return rules.join("");
}

function init(root) {
  const box = root.querySelector("[data-log-box]");
  const rangeEl = root.querySelector("[data-log-range]");
  const statusEl = root.querySelector("[data-log-status]");
  const followLabel = root.querySelector("[data-log-follow-label]");
  const followBox = root.querySelector("[data-log-follow]");
  const jump = root.querySelector("[data-log-jump]");
  const form = root.querySelector("[data-log-search-form]");
  const searchNav = root.querySelector("[data-log-search-nav]");
  const searchCount = root.querySelector("[data-log-search-count]");
  const ds = root.dataset;

  const st = {
    first: +ds.first,
    last: +ds.last,
    total: +ds.total,
    live: ds.live === "true",
    status: ds.status,
    steps: JSON.parse(ds.steps || "[]"),
    stepsKey: ds.steps || "[]",
    collapsed: new Set(),
    follow: false,
    busy: false,
    ws: null,
    retry: 0,
    ended: false,
    search: { q: "", matches: [], i: -1, gen: 0 },
    programmatic: false,
    regionGen: 0,
    incoming: [], // live lines not yet in the DOM
    flushQueued: false,
    lastFrameAt: 0, // when the socket last brought lines
    jumping: false, // the socket is being replaced after a jump to the tail
  };

  root.classList.add("log-js");
  const style = document.createElement("style");
  style.textContent = paletteCSS();
  document.head.appendChild(style);
  // Paging happens on scroll; the no-JS links are not needed.
  root.querySelectorAll("[data-log-earlier], [data-log-later]").forEach((el) => (el.hidden = true));
  // The server grouped its page of lines by step as this script does:
  // adopt its sections as they are. Taking a thousand lines out and
  // putting them back cost a second layout of all of them on every
  // opening; only sections it cannot match are regrouped (see start).
  const adopted = adoptServerSections();
  const serverLines = adopted
    ? []
    : Array.from(box.querySelectorAll(".log-line")).map((el) => ({
        n: +el.id.slice(1),
        html: el.querySelector(".log-t").innerHTML,
      }));
  if (!adopted) box.querySelectorAll("details.log-step, .log-loose").forEach((el) => el.remove());

  // adoptServerSections marks the server's sections with their step, as
  // newSection would, and reports whether every one matched a step.
  function adoptServerSections() {
    const secs = Array.from(box.querySelectorAll(":scope > details.log-step, :scope > .log-loose"));
    const keys = secs.map((sec) =>
      sec.classList.contains("log-loose") ? -1 : st.steps.findIndex((s) => String(s.first) === sec.dataset.first),
    );
    if (!secs.length || keys.some((k, i) => k < 0 && !secs[i].classList.contains("log-loose"))) return false;
    secs.forEach((sec, i) => {
      sec.dataset.key = String(keys[i]);
      if (keys[i] >= 0) watchToggle(sec, st.steps[keys[i]]);
    });
    return true;
  }

  function watchToggle(d, s) {
    d.addEventListener("toggle", () => {
      const id = s.name + "@" + s.first;
      if (d.open) st.collapsed.delete(id);
      else st.collapsed.add(id);
    });
  }

  function sectionKey(n) {
    return stepOf(st.steps, n);
  }

  function bodyOf(sec) {
    return sec.classList.contains("log-step") ? sec.querySelector(".log-step-body") : sec;
  }

  function newSection(key) {
    if (key < 0) {
      const d = document.createElement("div");
      d.className = "log-loose";
      d.dataset.key = "-1";
      return d;
    }
    const s = st.steps[key];
    const d = document.createElement("details");
    d.className = "log-step";
    d.dataset.key = String(key);
    d.open = !st.collapsed.has(s.name + "@" + s.first);
    const sum = document.createElement("summary");
    sum.className = "log-step-head";
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = statusIcon(s.status);
    const name = document.createElement("span");
    name.className = "log-step-name";
    name.textContent = s.name;
    const meta = document.createElement("span");
    meta.className = "log-step-meta";
    const dur = s.duration_ms > 0 ? ` · ${formatDuration(s.duration_ms)}` : "";
    meta.textContent = `${s.status} · ${stepLines(s)}${dur}`;
    sum.append(icon, " ", name, " ", meta);
    const body = document.createElement("div");
    body.className = "log-step-body";
    d.append(sum, body);
    watchToggle(d, s);
    return d;
  }

  function sections() {
    return Array.from(box.children).filter((el) => el.dataset.key !== undefined);
  }

  // groups splits consecutive lines [{n, html}] into runs by step.
  function groups(lines) {
    const out = [];
    for (const l of lines) {
      const key = sectionKey(l.n);
      const g = out[out.length - 1];
      if (g && g.key === key) g.html.push(lineHTML(l.n, l.html));
      else out.push({ key, html: [lineHTML(l.n, l.html)] });
    }
    return out;
  }

  function append(lines) {
    if (!lines.length) return;
    removeEmpty();
    for (const g of groups(lines)) {
      const secs = sections();
      let sec = secs[secs.length - 1];
      if (!sec || +sec.dataset.key !== g.key) {
        sec = newSection(g.key);
        box.appendChild(sec);
      }
      bodyOf(sec).insertAdjacentHTML("beforeend", g.html.join(""));
    }
    if (st.first > st.last) st.first = lines[0].n;
    st.last = lines[lines.length - 1].n;
  }

  function prepend(lines) {
    if (!lines.length) return;
    removeEmpty();
    const gs = groups(lines);
    for (let i = gs.length - 1; i >= 0; i--) {
      const g = gs[i];
      let sec = sections()[0];
      if (!sec || +sec.dataset.key !== g.key) {
        sec = newSection(g.key);
        box.insertBefore(sec, box.firstChild);
      }
      bodyOf(sec).insertAdjacentHTML("afterbegin", g.html.join(""));
    }
    if (st.first > st.last) st.last = lines[lines.length - 1].n;
    st.first = lines[0].n;
  }

  // trimTop drops the first n lines from the DOM: whole sections at
  // once, and the rest of a section's lines as one range (one line at a
  // time was thousands of DOM operations for a fast live log).
  function trimTop(n) {
    while (n > 0 && st.first <= st.last) {
      const sec = sections()[0];
      if (!sec) break;
      const lines = bodyOf(sec).querySelectorAll(":scope > .log-line");
      if (lines.length <= n) {
        sec.remove();
        st.first += lines.length;
        n -= lines.length;
        continue;
      }
      const r = document.createRange();
      r.setStartBefore(lines[0]);
      r.setEndAfter(lines[n - 1]);
      r.deleteContents();
      st.first += n;
      n = 0;
    }
  }

  function trimBottom(n) {
    while (n > 0 && st.first <= st.last) {
      const secs = sections();
      const sec = secs[secs.length - 1];
      const body = bodyOf(sec);
      const lines = body.querySelectorAll(".log-line");
      if (!lines.length) {
        sec.remove();
        continue;
      }
      lines[lines.length - 1].remove();
      st.last--;
      n--;
      if (lines.length === 1) sec.remove();
    }
  }

  function clear() {
    sections().forEach((s) => s.remove());
    st.first = 1;
    st.last = 0;
  }

  function removeEmpty() {
    const e = box.querySelector("[data-log-empty]");
    if (e) e.remove();
  }

  // rebuild regroups the lines in the DOM after the steps changed.
  function rebuild() {
    const lines = Array.from(box.querySelectorAll(".log-line")).map((el) => ({
      n: +el.id.slice(1),
      html: el.querySelector(".log-t").innerHTML,
    }));
    const top = box.scrollTop;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 2;
    const first = st.first;
    clear();
    if (lines.length) {
      st.first = first;
      st.last = first - 1;
      append(lines);
    }
    // A reader at the end stays there (the steps' headers may have
    // changed height); anyone else keeps their place.
    st.programmatic = true;
    box.scrollTop = atBottom ? box.scrollHeight : top;
    highlightCurrent();
  }

  function count() {
    return Math.max(0, st.last - st.first + 1);
  }

  function atTail() {
    return st.last >= st.total;
  }

  function updateRange() {
    if (st.total === 0) rangeEl.textContent = st.live ? "No output yet" : "No output";
    else if (count() === 0) rangeEl.textContent = `${st.total} lines`;
    else rangeEl.textContent = `Lines ${st.first}–${st.last} of ${st.total}`;
    jump.classList.toggle("hidden", atTail() || st.follow);
  }

  // setStatus repaints the viewer's status chip, and the page's chips
  // marked data-log-status-mirror (the release page's title), so the
  // page never shows two statuses.
  function setStatus(s, final) {
    if (!s || (s === st.status && !final)) return;
    const changed = s !== st.status;
    st.status = s;
    const holders = [statusEl, ...document.querySelectorAll("[data-log-status-mirror]")];
    holders.forEach((el) => paintStatus(el.firstElementChild, s));
    if (changed || final) refreshRegions(final);
  }

  // refreshRegions brings the page's live regions ([data-live-region]
  // with an id: a build's title, Cancel button, cards and Deploy box; a
  // release's status, error and details) up to date after the owner's
  // status changed, without reloading the page: it fetches the page
  // again and swaps each region for its new version, leaving the log
  // viewer (and the reader's place in it) alone. When the log has ended
  // it waits for a page that no longer renders the log live (the status
  // is stored before the log is closed, so that is at most a moment).
  // The server escapes everything in the page; DOMParser runs no script.
  async function refreshRegions(final) {
    if (!document.querySelector("[data-live-region][id]")) {
      if (final && ds.reloadOnEnd === "true") setTimeout(() => location.reload(), 1000);
      return;
    }
    const gen = ++st.regionGen;
    for (let attempt = 0; attempt < 6; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      if (gen !== st.regionGen) return;
      let doc;
      try {
        const res = await fetch(location.pathname + location.search, { headers: { Accept: "text/html" }, cache: "no-store" });
        if (!res.ok) continue;
        doc = new DOMParser().parseFromString(await res.text(), "text/html");
      } catch (err) {
        console.warn(err);
        continue;
      }
      if (gen !== st.regionGen) return;
      const v = doc.querySelector("[data-logview]");
      if (final && v && v.dataset.live === "true" && attempt < 5) continue;
      // The end frame carries no steps: take their final state from the
      // page too.
      if (v && v.dataset.steps) onState({ status: st.status, steps: JSON.parse(v.dataset.steps) });
      for (const el of document.querySelectorAll("[data-live-region][id]")) {
        const fresh = doc.getElementById(el.id);
        if (!fresh) continue;
        const node = document.importNode(fresh, true);
        el.replaceWith(node);
        if (window.htmx) window.htmx.process(node);
      }
      document.dispatchEvent(new CustomEvent("slipway:regions-refreshed", { detail: { status: st.status } }));
      return;
    }
  }

  function paintStatus(chip, s) {
    if (!chip) return;
    chip.className = "inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset " + STATUS_CLASS[statusKind(s)];
    chip.dataset.status = s;
    chip.textContent = "";
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = statusIcon(s);
    chip.append(icon, " " + s);
  }

  function scrollToBottom() {
    st.programmatic = true;
    box.scrollTop = box.scrollHeight;
  }

  function setFollow(on) {
    st.follow = on;
    followBox.checked = on;
    if (on) {
      if (atTail()) scrollToBottom();
      else loadTail().then(scrollToBottom);
    }
    updateRange();
  }

  async function fetchLines(params) {
    const u = new URL(ds.lines, location.href);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    const res = await fetch(u, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`loading lines failed: ${res.status}`);
    const p = await res.json();
    st.total = Math.max(st.total, p.total);
    return p.lines.map((html, i) => ({ n: p.from + i, html }));
  }

  // guard runs one load at a time.
  async function guard(fn) {
    if (st.busy) return;
    st.busy = true;
    try {
      await fn();
    } catch (err) {
      console.warn(err);
    } finally {
      st.busy = false;
      updateRange();
    }
  }

  function loadEarlier() {
    return guard(async () => {
      if (st.first <= 1) return;
      const from = Math.max(1, st.first - PAGE);
      const lines = await fetchLines({ from, limit: st.first - from });
      const h0 = box.scrollHeight;
      prepend(lines);
      st.programmatic = true;
      box.scrollTop += box.scrollHeight - h0;
      if (count() > MAX_DOM) trimBottom(count() - MAX_DOM);
    });
  }

  function loadLater() {
    return guard(async () => {
      if (atTail()) return;
      const lines = await fetchLines({ from: st.last + 1, limit: PAGE });
      append(lines);
      if (count() > MAX_DOM) {
        const h0 = box.scrollHeight;
        trimTop(count() - MAX_DOM);
        st.programmatic = true;
        box.scrollTop -= h0 - box.scrollHeight;
      }
    });
  }

  function replaceWith(lines) {
    clear();
    if (lines.length) {
      st.first = lines[0].n;
      st.last = st.first - 1;
      append(lines);
    }
  }

  function loadTail() {
    return guard(async () => replaceWith(await fetchLines({ limit: PAGE })));
  }

  function loadAround(n) {
    return guard(async () => replaceWith(await fetchLines({ from: Math.max(1, n - PAGE / 2), limit: PAGE })));
  }

  // Live lines from the socket. A frame only queues its lines; they
  // reach the DOM once per animation frame. A build printing fast sends
  // hundreds of frames a second, and inserting, trimming and scrolling
  // (a layout of the whole box) for each one kept the main thread busy
  // far longer than the build ran: a viewer opened half-way through a
  // 200,000-line build showed its last line ~30 s after the build ended.
  // Batched, a follower that falls behind replaces the box with the last
  // MAX_DOM lines at once instead of inserting every line in between.
  function onLines(from, htmls) {
    const lines = [];
    htmls.forEach((html, i) => {
      if (from + i > st.total) lines.push({ n: from + i, html }); // a replay never repeats a line
    });
    if (!lines.length) return;
    st.lastFrameAt = performance.now();
    st.total = lines[lines.length - 1].n;
    for (const l of lines) st.incoming.push(l);
    // A hidden tab runs no animation frames: keep only what the box can
    // show (the rest loads from the server when scrolled to).
    if (st.incoming.length > 2 * MAX_DOM) st.incoming = st.incoming.slice(-MAX_DOM);
    if (!st.flushQueued) {
      st.flushQueued = true;
      setTimeout(() => requestAnimationFrame(flushIncoming), FLUSH_MS);
    }
  }

  // flushIncoming puts the queued live lines into the DOM.
  function flushIncoming() {
    st.flushQueued = false;
    let lines = st.incoming.filter((l) => l.n > st.last);
    st.incoming = [];
    if (lines.length && !st.busy) {
      // The box ends right before the new lines (the reader is at the
      // end of what has arrived).
      const joins = st.last === lines[0].n - 1;
      if (st.follow && (!joins || lines.length >= MAX_DOM)) {
        replaceWith(lines.slice(-MAX_DOM));
      } else if (st.follow) {
        append(lines);
        if (count() > MAX_DOM) trimTop(count() - MAX_DOM);
      } else if (joins) {
        append(lines.slice(0, Math.max(0, MAX_DOM - count())));
      }
      if (st.follow) scrollToBottom();
    }
    updateRange();
  }

  function onState(msg) {
    flushIncoming();
    setStatus(msg.status);
    const key = JSON.stringify(msg.steps || []);
    if (key !== st.stepsKey) {
      st.stepsKey = key;
      st.steps = msg.steps || [];
      rebuild();
      renderStepsNav();
    }
  }

  function renderStepsNav() {
    const nav = root.querySelector("[data-log-steps]");
    if (!nav) return;
    nav.textContent = "";
    for (const s of st.steps) {
      const li = document.createElement("li");
      li.className = "flex items-center gap-1.5";
      const icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = statusIcon(s.status);
      li.append(icon);
      if (s.first > 0) {
        const a = document.createElement("a");
        a.className = "text-slate-800 underline decoration-slate-300 hover:decoration-slate-600";
        a.href = `#L${s.first}`;
        a.textContent = s.name;
        li.append(a);
      } else {
        const span = document.createElement("span");
        span.className = "text-slate-500";
        span.textContent = s.name;
        li.append(span);
      }
      const sr = document.createElement("span");
      sr.className = "sr-only";
      sr.textContent = s.status;
      li.append(sr);
      if (s.duration_ms > 0) {
        const d = document.createElement("span");
        d.className = "text-slate-500";
        d.textContent = formatDuration(s.duration_ms);
        li.append(d);
      }
      nav.append(li);
    }
  }

  function onEnd(msg) {
    flushIncoming();
    st.ended = true;
    st.live = false;
    setStatus(msg.status, true);
    st.follow = false;
    followLabel.classList.add("hidden");
    followLabel.classList.remove("flex");
    if (msg.truncated && !root.querySelector("[data-testid=log-truncated]")) {
      const p = document.createElement("p");
      p.className = "border-b border-amber-200 bg-amber-50 px-4 py-2 text-sm text-amber-900";
      p.setAttribute("role", "note");
      p.dataset.testid = "log-truncated";
      p.textContent = "Log truncated: the log reached its size limit; later output was dropped.";
      box.before(p);
    }
    root.dataset.ended = "true";
    updateRange();
  }

  function connect() {
    const u = new URL(ds.socket, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("from", String(st.total + 1));
    const ws = new WebSocket(u);
    st.ws = ws;
    ws.onmessage = (ev) => {
      st.retry = 0;
      const msg = JSON.parse(ev.data);
      if (msg.t === "lines") onLines(msg.from, msg.lines);
      else if (msg.t === "state") onState(msg);
      else if (msg.t === "end") onEnd(msg);
    };
    ws.onclose = () => {
      if (st.ws === ws) st.ws = null;
      if (st.ended || ws.replaced) return;
      // Resume after the last line received: nothing is lost or repeated.
      const delay = Math.min(10000, 500 * 2 ** st.retry++);
      setTimeout(connect, delay);
    };
  }

  // catchUp keeps a follower near the end of a log that grows faster than
  // the socket brings it (a build printing 100,000 lines in a second):
  // while lines keep arriving it asks the server, once a second, where the
  // log ends; more than MAX_BEHIND lines behind, it shows the last page
  // at once and resumes the socket after it. The lines it skipped were
  // never in the DOM; scrolling up pages them in like any earlier lines.
  async function catchUp() {
    setTimeout(catchUp, CATCHUP_MS);
    if (st.ended || !st.live || !st.follow || st.busy || st.jumping) return;
    if (performance.now() - st.lastFrameAt > 2000) return; // quiet: nothing to catch
    st.jumping = true;
    try {
      const u = new URL(ds.lines, location.href);
      u.searchParams.set("limit", "1");
      const res = await fetch(u, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const end = (await res.json()).total;
      if (end - st.total <= MAX_BEHIND || st.ended || !st.follow) return;
      const old = st.ws;
      if (old) {
        old.replaced = true;
        old.close();
      }
      st.ws = null;
      await guard(async () => {
        const lines = await fetchLines({ limit: PAGE });
        st.incoming = [];
        replaceWith(lines);
        st.total = Math.max(st.total, st.last);
      });
      scrollToBottom();
      root.dataset.caughtUp = String(+(root.dataset.caughtUp || 0) + 1);
      connect();
    } catch (err) {
      console.warn(err);
    } finally {
      st.jumping = false;
    }
  }

  // Permalinks: #L120 shows and highlights line 120, loading its page.
  function lineFromHash() {
    const m = /^#L(\d+)$/.exec(location.hash);
    return m ? +m[1] : 0;
  }

  function highlightCurrent() {
    box.querySelectorAll(".log-hl").forEach((el) => el.classList.remove("log-hl"));
    const n = lineFromHash();
    const el = n && document.getElementById(`L${n}`);
    if (el) el.classList.add("log-hl");
    return el;
  }

  async function showLine(n) {
    if (n < 1) return;
    if (n < st.first || n > st.last) await loadAround(n);
    const el = document.getElementById(`L${n}`);
    if (!el) return;
    const sec = el.closest("details");
    if (sec && !sec.open) sec.open = true;
    highlightCurrent();
    st.programmatic = true;
    el.scrollIntoView({ block: "center" });
    markMatch(el);
  }

  window.addEventListener("hashchange", () => {
    const n = lineFromHash();
    if (!n) return;
    if (st.follow) setFollow(false);
    showLine(n);
  });

  // Search runs on the server over the whole log; results arrive in
  // chunks (each request scans a bounded number of lines).
  function markMatch(el) {
    box.querySelectorAll("mark.log-mark").forEach((m) => {
      const p = m.parentNode;
      m.replaceWith(document.createTextNode(m.textContent));
      p.normalize();
    });
    const q = st.search.q.toLowerCase();
    if (!q || !el) return;
    const walker = document.createTreeWalker(el.querySelector(".log-t"), NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      let text = node.textContent;
      let i = text.toLowerCase().indexOf(q);
      let cur = node;
      while (i >= 0) {
        const match = cur.splitText(i);
        const rest = match.splitText(q.length);
        const mark = document.createElement("mark");
        mark.className = "log-mark";
        match.replaceWith(mark);
        mark.appendChild(match);
        cur = rest;
        text = rest.textContent;
        i = text.toLowerCase().indexOf(q);
      }
    }
  }

  function showSearchCount(done) {
    const s = st.search;
    searchNav.classList.remove("hidden");
    searchNav.classList.add("inline-flex");
    const more = done ? "" : "+";
    if (!s.matches.length) searchCount.textContent = done ? "No matches" : "Searching…";
    else searchCount.textContent = `${s.i + 1} of ${s.matches.length}${more}`;
  }

  async function runSearch(q) {
    const gen = ++st.search.gen;
    st.search = { q, matches: [], i: -1, gen };
    if (!q) {
      searchNav.classList.add("hidden");
      markMatch(null);
      return;
    }
    let from = 1;
    for (;;) {
      const u = new URL(ds.search, location.href);
      u.searchParams.set("q", q);
      u.searchParams.set("from", String(from));
      const res = await fetch(u, { headers: { Accept: "application/json" } });
      if (gen !== st.search.gen) return;
      if (!res.ok) {
        searchCount.textContent = "Search failed";
        return;
      }
      const r = await res.json();
      if (gen !== st.search.gen) return;
      st.search.matches.push(...r.matches);
      if (st.search.i < 0 && st.search.matches.length) {
        st.search.i = 0;
        goMatch();
      }
      const done = r.done || st.search.matches.length >= MAX_MATCHES;
      showSearchCount(done);
      if (done) return;
      from = r.next;
    }
  }

  function goMatch() {
    const s = st.search;
    if (!s.matches.length) return;
    const n = s.matches[s.i];
    showSearchCount(true);
    if (location.hash === `#L${n}`) showLine(n);
    else location.hash = `#L${n}`;
  }

  function step(d) {
    const s = st.search;
    if (!s.matches.length) return;
    s.i = (s.i + d + s.matches.length) % s.matches.length;
    goMatch();
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = form.querySelector("input[name=q]").value.trim();
    if (q && q === st.search.q) step(1);
    else runSearch(q);
  });
  root.querySelector("[data-log-search-next]").addEventListener("click", () => step(1));
  root.querySelector("[data-log-search-prev]").addEventListener("click", () => step(-1));

  // Scrolling: page in at the edges; scrolling up stops following, and
  // reaching the end of a live log starts it again.
  // Only the reader stops following: a scroll that no wheel, touch, key
  // or pointer started (the box trimming its top, pages loading) never
  // does, however the browser batches the scroll events.
  let userAt = -1e9;
  for (const type of ["wheel", "touchmove", "keydown", "pointerdown"]) {
    box.addEventListener(type, () => (userAt = performance.now()), { passive: true });
  }
  let ticking = false;
  box.addEventListener(
    "scroll",
    () => {
      const programmatic = st.programmatic;
      st.programmatic = false;
      if (ticking) return;
      ticking = true;
      requestAnimationFrame(() => {
        ticking = false;
        const byUser = performance.now() - userAt < 1500;
        const fromBottom = box.scrollHeight - box.scrollTop - box.clientHeight;
        if (byUser && st.follow && fromBottom > 40) {
          st.follow = false;
          followBox.checked = false;
          updateRange();
        } else if (!programmatic && !st.follow && st.live && atTail() && fromBottom < 2) {
          st.follow = true;
          followBox.checked = true;
          updateRange();
        }
        // A follower gets new lines from the socket, not by paging.
        if (st.follow) return;
        if (box.scrollTop < EDGE && st.first > 1) loadEarlier();
        else if (fromBottom < EDGE && !atTail()) loadLater();
      });
    },
    { passive: true },
  );
  followBox.addEventListener("change", () => setFollow(followBox.checked));
  jump.querySelector("[data-log-jump-button]").addEventListener("click", () => setFollow(true));

  // Start: regroup the server's lines (unless adopted as they are), then
  // show the permalink or the end.
  if (!adopted) replaceWith(serverLines);
  st.total = Math.max(st.total, st.last);
  if (st.live) {
    followLabel.classList.remove("hidden");
    followLabel.classList.add("flex");
    connect();
    setTimeout(catchUp, CATCHUP_MS);
  }
  const target = lineFromHash();
  if (target) showLine(target);
  else {
    scrollToBottom();
    if (st.live) setFollow(true);
  }
  updateRange();
}

document.querySelectorAll("[data-logview]").forEach(init);
