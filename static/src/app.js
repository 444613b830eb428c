// The portal's script: htmx for partial updates plus small behaviours that
// pages opt into with data attributes.
import htmx from "htmx.org";

window.htmx = htmx;

// Buttons with data-confirm ask before submitting their form.
document.addEventListener("submit", (ev) => {
  const btn = ev.submitter;
  const msg = btn && btn.dataset ? btn.dataset.confirm : null;
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});

// A name input with data-slug-source="ID" fills the input #ID with a slug
// of what is typed, until the user edits that slug input themselves.
function slugify(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64).replace(/-+$/, "");
}
document.addEventListener("input", (ev) => {
  const el = ev.target;
  if (!el || !el.dataset) return;
  if (el.dataset.slugSource) {
    const slug = document.getElementById(el.dataset.slugSource);
    if (slug && slug.dataset.edited !== "true") slug.value = slugify(el.value);
  } else if (el.id && document.querySelector(`[data-slug-source="${el.id}"]`)) {
    el.dataset.edited = el.value === "" ? "false" : "true";
  }
});

// A button with data-copy="ID" copies the text of #ID (a secret shown
// once). The Clipboard API needs a secure context; elsewhere (plain HTTP
// on a LAN address) the text is selected and copied the old way.
document.addEventListener("click", async (ev) => {
  const btn = ev.target instanceof Element ? ev.target.closest("[data-copy]") : null;
  if (!btn) return;
  const src = document.getElementById(btn.dataset.copy);
  if (!src) return;
  const text = src.textContent.trim();
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch (_) {
    ok = false;
  }
  if (!ok) {
    const range = document.createRange();
    range.selectNodeContents(src);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try {
      ok = document.execCommand("copy");
    } catch (_) {
      ok = false;
    }
  }
  btn.textContent = ok ? "Copied" : "Select and copy";
  setTimeout(() => { btn.textContent = "Copy"; }, 2000);
});
