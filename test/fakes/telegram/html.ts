/**
 * Telegram's HTML parse mode as the Bot API checks it: only its tags, properly nested, and every `<`
 * and `&` written as a tag or an entity. The fake refuses what Telegram refuses, so an escaping bug
 * in a bot fails the test the way it would fail in production, and it measures the length Telegram
 * measures (the text after parsing).
 */

const TAGS: ReadonlySet<string> = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'a',
  'code',
  'pre',
  'tg-spoiler',
  'span',
  'blockquote',
  'tg-emoji',
]);

const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"' };

const TAG = /^<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=(?:"[^"]*"|'[^']*'|[^\s>]*))?)*)\s*>/;
const ENTITY = /^&(?:([a-z]+)|#(\d+)|#x([0-9a-fA-F]+));/;

export type ParsedHtml =
  | { readonly ok: true; readonly plain: string }
  | { readonly ok: false; readonly error: string };

/** The text a user sees for `text` in HTML parse mode, or the error Telegram gives for it. */
export function parseHtml(text: string): ParsedHtml {
  let plain = '';
  const open: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '<') {
      const m = TAG.exec(text.slice(i, i + 300));
      const name = m?.[2]?.toLowerCase();
      if (!m || !name || !TAGS.has(name)) {
        return { ok: false, error: `Unsupported start tag "${name ?? ''}" at byte offset ${i}` };
      }
      if (m[1] === '/') {
        const top = open.pop();
        if (top !== name)
          return { ok: false, error: `Unmatched end tag at byte offset ${i}, expected "</${top}>"` };
      } else {
        open.push(name);
      }
      i += m[0].length;
      continue;
    }
    if (c === '&') {
      const m = ENTITY.exec(text.slice(i, i + 12));
      const named = m?.[1] !== undefined ? NAMED[m[1]] : undefined;
      if (!m || (m[1] !== undefined && named === undefined)) {
        return { ok: false, error: `Character entity expected at byte offset ${i}` };
      }
      plain += named ?? String.fromCodePoint(m[2] !== undefined ? Number(m[2]) : Number.parseInt(m[3]!, 16));
      i += m[0].length;
      continue;
    }
    plain += c;
    i++;
  }
  if (open.length > 0) {
    return { ok: false, error: `Can't find end tag corresponding to start tag "${open[open.length - 1]}"` };
  }
  return { ok: true, plain };
}
