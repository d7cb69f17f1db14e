/**
 * Server-rendered HTML without a template engine: a tagged template that escapes every interpolated
 * value unless it is already {@link Html}, so nothing a user typed (account names, labels, reasons)
 * can become markup.
 */

/** Markup that is already safe to emit. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** `html\`<p>${name}</p>\`` with `name` escaped; arrays are joined; null, undefined and false vanish. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A UTC instant as `2026-01-05 15:00:00 UTC`; a dash when absent. */
export function formatTime(at: Date | null | undefined): string {
  if (!at) return '—';
  return `${at.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** A duration in ms as `850 ms`, `2.4 s` or `3 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export interface NavItem {
  readonly href: string;
  readonly label: string;
}

export interface PageFrame {
  readonly title: string;
  /** Who is signed in; null on the public pages (sign-in, OAuth results). */
  readonly viewer: { readonly displayName: string; readonly roles: readonly string[] } | null;
  /** Form token for the sign-out form; required with a viewer. */
  readonly csrf?: string;
  readonly nav?: readonly NavItem[];
  readonly current?: string;
  /** Open the live event stream on this page. */
  readonly live?: boolean;
  readonly notice?: string | null;
  readonly error?: string | null;
  readonly body: Html;
}

/** The whole document around a page's body. Scripts and styles are files: the CSP allows no inline code. */
export function page(frame: PageFrame): string {
  const { viewer } = frame;
  const nav = (frame.nav ?? []).map(
    (item) =>
      html`<a href="${item.href}"${frame.current === item.href ? new Html(' aria-current="page"') : ''}>${item.label}</a>`,
  );
  const header = viewer
    ? html`<header>
  <strong class="brand">tradecast</strong>
  <nav>${nav}</nav>
  <span class="who">${viewer.displayName} <small>(${viewer.roles.join(', ')})</small></span>
  ${frame.live ? html`<span class="live" id="live" title="Live updates">live</span>` : ''}
  <form method="post" action="/signout" class="inline">
    <input type="hidden" name="_csrf" value="${frame.csrf ?? ''}">
    <button type="submit" class="link">Sign out</button>
  </form>
</header>`
    : html`<header><strong class="brand">tradecast</strong></header>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${frame.title} · tradecast</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/dashboard.js" defer></script>
</head>
<body${frame.live ? new Html(' data-events="/events" data-live="off"') : ''}>
${header}
<main>
<h1>${frame.title}</h1>
${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : ''}
${frame.error ? html`<p class="error" role="alert">${frame.error}</p>` : ''}
${frame.body}
</main>
</body>
</html>
`.value;
}

/** A page with one message, for sign-in and OAuth outcomes and errors. */
export function messagePage(title: string, message: Html | string, extra: Html | string = ''): string {
  return page({ title, viewer: null, body: html`<p>${message}</p>${extra}` });
}
