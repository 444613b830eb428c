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
