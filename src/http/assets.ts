/**
 * The dashboard's only stylesheet and script, served as files so the Content-Security-Policy can
 * forbid inline code. No build step: this is the code the browser runs.
 */

export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5d6874; --line: #d5dbe1; --bg: #fff;
  --accent: #1f6feb; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --fresh: #fff8c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
  --bg: #0d1117; --accent: #58a6ff; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --fresh: #3b2e00; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; padding: .6rem 1.2rem;
  border-bottom: 1px solid var(--line); }
header nav { display: flex; gap: .8rem; flex: 1; flex-wrap: wrap; }
header nav a { color: var(--fg); text-decoration: none; padding: .15rem .3rem; border-radius: 4px; }
header nav a[aria-current="page"] { background: var(--line); }
.brand { font-size: 1.05rem; }
.who small { color: var(--muted); }
.live { font-size: .75rem; padding: .1rem .45rem; border-radius: 999px; border: 1px solid var(--line);
  color: var(--muted); }
body[data-live="on"] .live { color: var(--ok); border-color: var(--ok); }
main { padding: 1rem 1.2rem 3rem; max-width: 1400px; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fresh { background: var(--fresh); transition: background 2s; }
.muted { color: var(--muted); }
.state-ok, .kind-filled, .kind-acked { color: var(--ok); }
.state-locked, .state-needs_reauth, .kind-rejected, .kind-unknown { color: var(--bad); }
.kind-skipped, .kind-working { color: var(--warn); }
.notice { padding: .5rem .8rem; border-left: 4px solid var(--ok); background: color-mix(in srgb, var(--ok) 10%, transparent); }
.error { padding: .5rem .8rem; border-left: 4px solid var(--bad); background: color-mix(in srgb, var(--bad) 10%, transparent); }
form.inline { display: inline; margin: 0; }
form.row { display: flex; gap: .4rem; align-items: center; flex-wrap: wrap; margin: 0; }
input, select, textarea, button { font: inherit; }
input[type="number"] { width: 6.5rem; }
input.wide, textarea.wide { width: 22rem; max-width: 100%; }
button { cursor: pointer; padding: .25rem .7rem; border: 1px solid var(--line); border-radius: 5px;
  background: var(--bg); color: var(--fg); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.link { border: 0; background: none; color: var(--accent); padding: 0; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; min-width: 22rem;
  color: var(--fg); background: var(--bg); }
dialog::backdrop { background: rgb(0 0 0 / .4); }
dialog label, form.stack label { display: block; margin: .5rem 0; }
dialog label input, form.stack label input, form.stack label select, form.stack label textarea { display: block; width: 100%; margin-top: .15rem; }
.actions { display: flex; gap: .5rem; justify-content: flex-end; margin-top: .8rem; }
code.token { word-break: break-all; padding: .3rem .4rem; display: inline-block; border: 1px solid var(--line); border-radius: 4px; }
ol.steps li { margin: .4rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  // Dialogs: a button with data-open="ID" opens <dialog id="ID">; data-close closes its dialog.
  document.addEventListener('click', function (event) {
    var opener = event.target.closest('[data-open]');
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute('data-open'));
      if (dialog && typeof dialog.showModal === 'function') {
        event.preventDefault();
        dialog.showModal();
        var first = dialog.querySelector('input:not([type=hidden])');
        if (first) first.focus();
      }
      return;
    }
    var closer = event.target.closest('[data-close]');
    if (closer) {
      var open = closer.closest('dialog');
      if (open) {
        event.preventDefault();
        open.querySelectorAll('input:not([type=hidden])').forEach(function (i) { i.value = ''; });
        open.close();
      }
    }
  });

  // Live updates: the server pushes a rendered table row for every finished fan-out.
  var source = document.body.getAttribute('data-events');
  if (!source || typeof EventSource !== 'function') return;
  var events = new EventSource(source);
  events.addEventListener('open', function () { document.body.setAttribute('data-live', 'on'); });
  events.addEventListener('error', function () { document.body.setAttribute('data-live', 'off'); });
  events.addEventListener('signal', function (message) {
    var data = JSON.parse(message.data);
    var body = document.querySelector('#signals tbody');
    if (!body) return;
    var holder = document.createElement('tbody');
    holder.innerHTML = data.row;
    var row = holder.firstElementChild;
    if (!row) return;
    var empty = body.querySelector('tr.empty');
    if (empty) empty.remove();
    var existing = body.querySelector('tr[data-signal-id="' + CSS.escape(data.signalId) + '"]');
    if (existing) existing.replaceWith(row); else body.prepend(row);
    row.classList.add('fresh');
    setTimeout(function () { row.classList.remove('fresh'); }, 4000);
  });
})();
`;
