// The web IDE (docs/ide.md): CodeMirror 6 with languages loaded on demand,
// edits kept in localStorage until committed, a review step with a diff,
// .slipway.yml checked by the server's parser as you type, and a panel that
// follows the build the commit started and its deploy.
import { minimalSetup } from "codemirror";
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter } from "@codemirror/view";
import { EditorState, Compartment } from "@codemirror/state";
import { indentWithTab } from "@codemirror/commands";
import { StreamLanguage, bracketMatching, indentOnInput } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { search, searchKeymap } from "@codemirror/search";

const root = document.getElementById("ide");
const ds = root.dataset;
const slug = ds.slug;
const branch = ds.branch;
let base = ds.base;
const canCommit = ds.canCommit === "true";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (id) => document.getElementById(id);

// Languages, each in its own chunk, fetched the first time a file needs it.
const legacy = (load, name) => () => load().then((m) => StreamLanguage.define(m[name]));
const languages = [
  [/\.go$/, () => import("@codemirror/lang-go").then((m) => m.go())],
  [/\.(m|c)?jsx?$/, () => import("@codemirror/lang-javascript").then((m) => m.javascript({ jsx: true }))],
  [/\.tsx?$/, () => import("@codemirror/lang-javascript").then((m) => m.javascript({ typescript: true, jsx: true }))],
  [/\.py$/, () => import("@codemirror/lang-python").then((m) => m.python())],
  [/\.ya?ml$/, () => import("@codemirror/lang-yaml").then((m) => m.yaml())],
  [/\.json$/, () => import("@codemirror/lang-json").then((m) => m.json())],
  [/\.html?$/, () => import("@codemirror/lang-html").then((m) => m.html())],
  [/\.css$/, () => import("@codemirror/lang-css").then((m) => m.css())],
  [/\.(md|markdown)$/, () => import("@codemirror/lang-markdown").then((m) => m.markdown())],
  [/(^|\/)(Dockerfile|Containerfile)(\.[^/]*)?$/, legacy(() => import("@codemirror/legacy-modes/mode/dockerfile"), "dockerFile")],
  [/(\.(sh|bash)|(^|\/)\.?(bashrc|profile))$/, legacy(() => import("@codemirror/legacy-modes/mode/shell"), "shell")],
];
function languageFor(path) {
  for (const [re, load] of languages) if (re.test(path)) return load().catch(() => []);
  return Promise.resolve([]);
}

// Pending changes: path → {action, content, original, previous_path}.
const storeKey = `slipway-ide:${slug}:${branch}:${base}`;
let changes = {};
try { changes = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch { changes = {}; }
const originals = {}; // path → committed content at base
function save() {
  if (Object.keys(changes).length) localStorage.setItem(storeKey, JSON.stringify(changes));
  else localStorage.removeItem(storeKey);
  renderChanges();
}

let view = null;
let current = null; // path in the editor
const langConf = new Compartment();
const lintConf = new Compartment();
const roConf = new Compartment();

async function fetchJSON(url, opts = {}) {
  const res = await fetch(url, { credentials: "same-origin", ...opts, headers: { "Accept": "application/json", ...(opts.headers || {}) } });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  return { ok: res.ok, status: res.status, body };
}

const q = (o) => new URLSearchParams(o).toString();

// Server-side validation of the pipeline file, shown inline.
const pipelineLint = linter(async (v) => {
  if (!current || !/(^|\/)\.slipway\.ya?ml$/.test(current)) return [];
  const r = await fetchJSON(`/projects/${slug}/ide/validate`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ path: current, content: v.state.doc.toString() }),
  });
  const out = [];
  const box = $("ide-diagnostics");
  box.textContent = "";
  for (const d of (r.body && r.body.diagnostics) || []) {
    const line = v.state.doc.line(Math.min(Math.max(d.line, 1), v.state.doc.lines));
    const from = Math.min(line.from + Math.max(d.column - 1, 0), line.to);
    out.push({ from, to: Math.max(from + 1, line.to), severity: "error", message: d.message });
    const p = document.createElement("div");
    p.textContent = `${current}:${d.line}:${d.column}: ${d.message}`;
    p.dataset.testid = "diagnostic";
    box.appendChild(p);
  }
  return out;
}, { delay: 400 });

function makeView(doc, readOnly) {
  return new EditorView({
    parent: $("ide-editor"),
    state: EditorState.create({
      doc,
      extensions: [
        // minimalSetup (history, highlighting, default keys) and the few
        // extras an editor needs; basicSetup's autocompletion and folding
        // would push the page over its script budget.
        minimalSetup,
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        bracketMatching(),
        indentOnInput(),
        search({ top: true }),
        keymap.of([...searchKeymap, indentWithTab]),
        langConf.of([]),
        lintConf.of([lintGutter(), pipelineLint]),
        roConf.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
        EditorView.updateListener.of((u) => { if (u.docChanged) onEdit(u.state.doc.toString()); }),
        EditorView.theme({ "&": { height: "60vh" }, ".cm-scroller": { overflow: "auto" } }),
      ],
    }),
  });
}

function onEdit(text) {
  if (!current || !canCommit) return;
  const ch = changes[current];
  if (ch && (ch.action === "create" || ch.action === "move")) ch.content = text;
  else if (text === originals[current]) delete changes[current];
  else changes[current] = { action: "update", content: text, original: originals[current] };
  save();
}

function setNote(text) { $("ide-file-note").textContent = text; }

async function openFile(path, push = true) {
  setNote("");
  $("ide-diagnostics").textContent = "";
  let text = "";
  let readOnly = !canCommit;
  const ch = changes[path];
  if (ch && ch.action === "delete") {
    readOnly = true;
    setNote("deleted in your changes");
  }
  if (ch && ch.action !== "delete") {
    text = ch.content;
  } else {
    const r = await fetchJSON(`/projects/${slug}/ide/file?${q({ ref: branch, path })}`);
    if (!r.ok) { setNote((r.body && r.body.error) || `cannot open ${path}`); return; }
    const f = r.body;
    if (f.binary || f.too_large) {
      readOnly = true;
      setNote(f.binary ? "binary file: shown read-only" : `larger than 1 MiB (${f.size} bytes): read-only`);
    } else if (f.symlink) {
      readOnly = true;
      setNote("symbolic link: its target is shown, never followed");
    }
    originals[path] = f.content;
    if (!ch) text = f.content;
  }
  current = path;
  $("ide-file-name").textContent = path;
  for (const id of ["ide-rename", "ide-delete"]) $(id)?.classList.toggle("hidden", !canCommit);
  if (!view) { $("ide-editor").textContent = ""; view = makeView(text, readOnly); }
  else view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    effects: [roConf.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]), langConf.reconfigure([])],
  });
  const lang = await languageFor(path);
  if (current === path) view.dispatch({ effects: langConf.reconfigure(lang) });
  if (push) history.pushState({ path }, "", `/projects/${slug}/ide?${q({ ref: branch, path })}`);
  renderCrumbs(path);
}

function renderCrumbs(path) {
  const nav = $("ide-crumbs");
  nav.replaceChildren(nav.firstElementChild);
  for (const part of path.split("/")) {
    const sep = document.createElement("span");
    sep.className = "text-slate-400";
    sep.textContent = "/";
    const s = document.createElement("span");
    s.textContent = part;
    nav.append(sep, s);
  }
}

function renderChanges() {
  const ul = $("ide-changes");
  ul.textContent = "";
  const paths = Object.keys(changes).sort();
  if (!paths.length) {
    const li = document.createElement("li");
    li.className = "text-slate-500";
    li.textContent = "None yet.";
    ul.appendChild(li);
  }
  const mark = { create: "A", update: "M", delete: "D", move: "R" };
  for (const p of paths) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#";
    a.dataset.change = p;
    a.textContent = `${mark[changes[p].action]} ${changes[p].action === "move" ? changes[p].previous_path + " → " : ""}${p}`;
    a.onclick = (e) => { e.preventDefault(); openFile(p); };
    li.appendChild(a);
    ul.appendChild(li);
  }
  const review = $("ide-review");
  if (review) review.disabled = paths.length === 0;
}

// The tree: file links open in the editor without a reload.
root.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-file]");
  if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  openFile(a.dataset.file);
});
window.addEventListener("popstate", (e) => { if (e.state && e.state.path) openFile(e.state.path, false); });

// Search files by name.
let searchTimer = 0;
$("ide-search").addEventListener("input", (e) => {
  clearTimeout(searchTimer);
  const text = e.target.value.trim();
  const ul = $("ide-search-results");
  searchTimer = setTimeout(async () => {
    ul.textContent = "";
    ul.classList.toggle("hidden", !text);
    if (!text) return;
    const r = await fetchJSON(`/projects/${slug}/ide/search?${q({ ref: branch, q: text })}`);
    for (const p of (r.body || [])) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/projects/${slug}/ide?${q({ ref: branch, path: p })}`;
      a.dataset.file = p;
      a.className = "block truncate hover:text-emerald-700";
      a.textContent = p;
      li.appendChild(a);
      ul.appendChild(li);
    }
  }, 200);
});

function askPath(msg, value) {
  const p = (window.prompt(msg, value) || "").trim().replace(/^\.?\//, "");
  if (!p) return "";
  if (p.split("/").some((s) => s === "" || s === "." || s === ".." || s.toLowerCase() === ".git")) {
    window.alert("That path is not allowed.");
    return "";
  }
  return p;
}

$("ide-new-file")?.addEventListener("click", () => {
  const p = askPath("New file path (e.g. src/app.go):", "");
  if (!p) return;
  changes[p] = { action: "create", content: "" };
  save();
  openFile(p);
});

$("ide-delete")?.addEventListener("click", () => {
  if (!current) return;
  if (changes[current] && changes[current].action === "create") delete changes[current];
  else changes[current] = { action: "delete", original: originals[current] };
  save();
  openFile(current, false);
});

$("ide-rename")?.addEventListener("click", () => {
  if (!current) return;
  const to = askPath("Rename to:", current);
  if (!to || to === current) return;
  const ch = changes[current];
  const content = view.state.doc.toString();
  if (ch && ch.action === "create") changes[to] = { action: "create", content };
  else changes[to] = { action: "move", previous_path: (ch && ch.previous_path) || current, content, original: originals[current] };
  delete changes[current];
  save();
  openFile(to);
});

$("ide-discard")?.addEventListener("click", () => {
  if (!Object.keys(changes).length || !window.confirm("Discard all your changes?")) return;
  changes = {};
  save();
  if (current) openFile(current, false);
});

// Review: the diff of every change (@codemirror/merge, loaded on demand),
// a message and the target branch.
$("ide-review")?.addEventListener("click", async () => {
  const dlg = $("ide-review-dialog");
  const box = $("ide-diff");
  box.textContent = "Loading the diff…";
  $("ide-commit-error").textContent = "";
  dlg.showModal();
  const { MergeView } = await import("@codemirror/merge");
  box.textContent = "";
  for (const p of Object.keys(changes).sort()) {
    const ch = changes[p];
    if (ch.original === undefined && ch.action !== "create") {
      const from = ch.action === "move" ? ch.previous_path : p;
      const r = await fetchJSON(`/projects/${slug}/ide/file?${q({ ref: branch, path: from })}`);
      ch.original = r.ok ? r.body.content : "";
    }
    const h = document.createElement("h3");
    h.className = "mt-2 font-mono font-semibold";
    h.textContent = `${ch.action} ${ch.action === "move" ? ch.previous_path + " → " : ""}${p}`;
    const holder = document.createElement("div");
    holder.className = "rounded border border-slate-200";
    box.append(h, holder);
    const ro = [EditorState.readOnly.of(true), EditorView.editable.of(false)];
    new MergeView({
      a: { doc: ch.action === "create" ? "" : (ch.original || ""), extensions: ro },
      b: { doc: ch.action === "delete" ? "" : ch.content, extensions: ro },
      parent: holder,
      collapseUnchanged: { margin: 3, minSize: 6 },
    });
  }
});

$("ide-commit")?.addEventListener("click", async () => {
  const msg = $("ide-message").value.trim();
  const err = $("ide-commit-error");
  if (!msg) { err.textContent = "Write a commit message."; return; }
  const toNew = document.querySelector('input[name="target"]:checked').value === "new";
  const target = toNew ? $("ide-new-branch").value.trim() : branch;
  if (!target) { err.textContent = "Name the new branch."; return; }
  const actions = Object.keys(changes).sort().map((p) => {
    const ch = changes[p];
    const a = { action: ch.action, path: p };
    if (ch.action === "move") a.previous_path = ch.previous_path;
    if (ch.action !== "delete") a.content = ch.content;
    return a;
  });
  $("ide-commit").disabled = true;
  err.textContent = "Committing…";
  const r = await fetchJSON(`/projects/${slug}/ide/commit`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ branch: target, start_branch: toNew ? branch : "", base_sha: base, message: msg, actions }),
  });
  $("ide-commit").disabled = false;
  if (r.status === 409 && r.body && r.body.conflicts) {
    err.textContent = `${r.body.error}. Copy your edits of ${r.body.conflicts.join(", ")}, discard them, and reload to get the new version.`;
    return;
  }
  if (!r.ok) { err.textContent = (r.body && r.body.error) || `The commit failed (${r.status}).`; return; }
  err.textContent = "";
  $("ide-review-dialog").close();
  $("ide-message").value = "";
  localStorage.removeItem(storeKey);
  if (r.body.build_id) sessionStorage.setItem(`slipway-ide-build:${slug}`, String(r.body.build_id));
  // Reload at the new commit: the tree and base are the committed ones.
  location.assign(`/projects/${slug}/ide?${q(current && !(changes[current] && changes[current].action === "delete") ? { ref: target, path: current } : { ref: target })}`);
});

// The build panel: the build's log live over the log socket, then the
// deploy into the environment that follows the branch, with Promote.
function followBuild(id) {
  const panel = $("ide-build");
  panel.classList.remove("hidden");
  panel.innerHTML = "";
  const title = document.createElement("div");
  title.className = "font-semibold";
  const status = document.createElement("span");
  status.dataset.testid = "build-status";
  const log = document.createElement("pre");
  log.className = "mt-2 max-h-48 overflow-auto rounded bg-slate-900 p-2 text-[11px] text-slate-100";
  log.dataset.testid = "build-log";
  const deploy = document.createElement("div");
  deploy.className = "mt-2";
  deploy.dataset.testid = "deploy-status";
  panel.append(title, status, log, deploy);
  let info = null;
  const refresh = async () => {
    const r = await fetchJSON(`/projects/${slug}/ide/builds/${id}`);
    if (!r.ok) { status.textContent = "build not found"; return null; }
    info = r.body;
    title.innerHTML = "";
    const a = document.createElement("a");
    a.href = info.url;
    a.className = "hover:underline";
    a.textContent = `Build #${info.number}`;
    title.appendChild(a);
    status.textContent = ` ${info.status}`;
    deploy.textContent = "";
    if (info.env && ["succeeded"].includes(info.status)) {
      const d = info.deploy;
      const line = document.createElement("div");
      line.textContent = d ? `${info.env}: deploy ${d.status}`
        : info.has_artifact ? `${info.env}: waiting for the deploy…` : `${info.env}: nothing to deploy (the pipeline declares no artifact)`;
      deploy.appendChild(line);
      if (d && d.status === "live" && d.app_url) {
        const open = document.createElement("a");
        open.href = d.app_url; open.textContent = "Open the app"; open.target = "_blank"; open.rel = "noopener";
        open.className = "mr-3 text-emerald-700 hover:underline";
        deploy.appendChild(open);
      }
      if (d && d.status === "live") {
        const promote = document.createElement("a");
        promote.href = info.env_page; promote.textContent = "Promote →";
        promote.className = "font-medium text-emerald-700 hover:underline";
        promote.dataset.testid = "promote-link";
        deploy.appendChild(promote);
      }
    }
    return info;
  };
  refresh().then((b) => {
    if (!b) return;
    const u = new URL(b.socket_url, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("from", "1");
    u.searchParams.set("format", "raw");
    const ws = new WebSocket(u);
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.t === "lines") {
        for (const l of m.lines || []) log.textContent += l + "\n";
        log.scrollTop = log.scrollHeight;
      } else if (m.t === "state" || m.t === "end") {
        if (m.status) status.textContent = ` ${m.status}`;
        if (m.t === "end") pollDeploy();
      }
    };
  });
  let polls = 0;
  const pollDeploy = async () => {
    const b = await refresh();
    if (!b || !b.env || b.status !== "succeeded" || !b.has_artifact) return;
    if ((!b.deploy || !["live", "failed", "rolled_back", "canceled"].includes(b.deploy.status)) && polls++ < 90) setTimeout(pollDeploy, 1000);
  };
}

renderChanges();
if (ds.path) openFile(ds.path, false);
const pending = sessionStorage.getItem(`slipway-ide-build:${slug}`);
if (pending) { sessionStorage.removeItem(`slipway-ide-build:${slug}`); followBuild(pending); }
$("ide-branch").addEventListener("change", (e) => e.target.form.requestSubmit());
