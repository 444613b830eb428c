// Builds the front-end bundles into static/dist with content-hashed names
// and writes static/dist/manifest.json, which the Go server embeds.
import { execFileSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "static", "dist");
const tmp = mkdtempSync(join(tmpdir(), "slipway-assets-"));

const outputs = {};
const manifestExtra = {};

// CSS: Tailwind scans the templ sources and the scripts.
const cssOut = join(tmp, "app.css");
execFileSync(join(root, "node_modules", ".bin", "tailwindcss"),
  ["-i", join(root, "static", "src", "app.css"), "-o", cssOut, "--minify"],
  { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
outputs["app.css"] = readFileSync(cssOut);

// JS entry points: one bundle each.
const entries = readdirSync(join(root, "static", "src")).filter((f) => f.endsWith(".js") && !f.startsWith("_"));
for (const entry of entries) {
  const res = await esbuild.build({
    entryPoints: [join(root, "static", "src", entry)],
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2020"],
    write: false,
    legalComments: "none",
  });
  outputs[entry] = Buffer.from(res.outputFiles[0].contents);
}

// The web IDE: an ES module split into chunks, so each editor language
// (and the diff view) loads only when a file needs it. esbuild names every
// file by its content hash already; only the entry goes in the manifest.
// Only the IDE page loads it.
const prehashed = {};
{
  const res = await esbuild.build({
    entryPoints: { ide: join(root, "static", "src", "ide", "ide.js") },
    bundle: true,
    splitting: true,
    minify: true,
    format: "esm",
    target: ["es2020"],
    outdir: join(tmp, "ide"),
    entryNames: "[name].[hash]",
    chunkNames: "ide-chunk.[hash]",
    write: false,
    metafile: true,
    legalComments: "none",
  });
  // A second copy of @codemirror/state breaks the editor (instanceof
  // checks fail across copies): refuse to build one.
  const states = new Set(Object.keys(res.metafile.inputs)
    .filter((p) => p.includes("@codemirror/state/"))
    .map((p) => p.slice(0, p.indexOf("@codemirror/state/"))));
  if (states.size !== 1) throw new Error(`expected one copy of @codemirror/state, found ${states.size}: ${[...states].join(", ")}`);
  for (const f of res.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf("/") + 1);
    prehashed[name] = Buffer.from(f.contents);
    if (name.startsWith("ide.")) manifestExtra["ide.js"] = name;
  }
}

// Other files copied as they are (e.g. third-party CSS).
const copies = {
  "uplot.css": join(root, "node_modules", "uplot", "dist", "uPlot.min.css"),
  "favicon.svg": join(root, "static", "src", "favicon.svg"),
};
for (const [name, path] of Object.entries(copies)) {
  try { outputs[name] = readFileSync(path); } catch { /* optional */ }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const manifest = {};
for (const [name, data] of Object.entries(outputs).sort()) {
  const hash = createHash("sha256").update(data).digest("hex").slice(0, 12);
  const dot = name.lastIndexOf(".");
  const hashed = `${name.slice(0, dot)}.${hash}${name.slice(dot)}`;
  writeFileSync(join(dist, hashed), data);
  manifest[name] = hashed;
}
for (const [name, data] of Object.entries(prehashed)) writeFileSync(join(dist, name), data);
Object.assign(manifest, manifestExtra);
writeFileSync(join(dist, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
rmSync(tmp, { recursive: true, force: true });

// Budget: the IDE page's eager script (app.js, the IDE entry and the chunks
// it imports statically; languages and the diff view load later) stays
// within 150 KB gzipped.
{
  const seen = new Set();
  const walk = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const src = readFileSync(join(dist, f), "utf8");
    for (const m of src.matchAll(/import\s*(?:[\w*{}\s,$]*?from\s*)?"\.\/([^"]+)"/g)) walk(m[1]);
  };
  walk(manifest["ide.js"]);
  seen.add(manifest["app.js"]);
  let gz = 0;
  for (const f of seen) gz += gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
  console.log(`IDE page eager JS: ${(gz / 1024).toFixed(1)} KiB gzipped (${seen.size} files)`);
  if (gz > 150 * 1024) throw new Error("the IDE page's eager JS is over its 150 KiB gzip budget");
}
console.log("static/dist:", Object.values(manifest).join(" "));
