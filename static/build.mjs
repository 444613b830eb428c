// Builds the front-end bundles into static/dist with content-hashed names
// and writes static/dist/manifest.json, which the Go server embeds.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "static", "dist");
const tmp = mkdtempSync(join(tmpdir(), "slipway-assets-"));

const outputs = {};

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
writeFileSync(join(dist, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
rmSync(tmp, { recursive: true, force: true });
console.log("static/dist:", Object.values(manifest).join(" "));
