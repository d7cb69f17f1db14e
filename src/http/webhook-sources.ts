/**
 * Webhook sources: who an alert acts as, and what may post it. A source's URL token is
 * `<source id>.<secret>`; only the secret's hash is stored and the token is shown once. Each source
 * is also a `webhook:<source id>` chat identity of its owner, so the command layer authorizes its
 * alerts exactly as it authorizes the owner (and `/provider add webhook:<id>` names it).
 */
import { BlockList, isIP } from 'node:net';
import type { WebhookSource } from '../db/repositories/types.js';
import { err, ok, type Problem, type Result } from '../domain/result.js';
import type { HttpStores } from './ports.js';
import { hashToken, newToken, TOKEN_SHAPE } from './tokens.js';

export interface NewSourceInput {
  readonly ownerUserId: string;
  readonly label: string;
  /** A signal channel to broadcast to; the owner must be one of its providers. */
  readonly channelId?: string | null;
  readonly reportChannelId?: string | null;
  /** Addresses or CIDR ranges; empty allows any address. */
  readonly allowedIps?: readonly string[];
}

export interface CreatedSource {
  readonly source: WebhookSource;
  /** The URL token. Shown once; only its hash is kept. */
  readonly token: string;
  /** The full webhook URL to paste into TradingView. */
  readonly url: string;
}

/** Makes a source with a fresh token and links its chat identity to the owner. */
export async function createWebhookSource(
  deps: { readonly stores: Pick<HttpStores, 'webhookSources' | 'users'>; readonly publicUrl: string },
  input: NewSourceInput,
): Promise<Result<CreatedSource, Problem>> {
  const label = input.label.trim();
  if (label === '' || label.length > 100) {
    return err({ code: 'invalid_label', message: 'label: 1 to 100 characters' });
  }
  const allowlist = parseAllowlist(input.allowedIps ?? []);
  if (!allowlist.ok) return allowlist;
  const secret = newToken();
  const source = await deps.stores.webhookSources.create({
    ownerUserId: input.ownerUserId,
    label,
    tokenHash: hashToken(secret),
    channelId: input.channelId ?? null,
    reportChannelId: input.reportChannelId ?? null,
    allowedIps: allowlist.value,
  });
  const linked = await deps.stores.users.linkIdentity(input.ownerUserId, 'webhook', source.id);
  if (!linked.ok) {
    await deps.stores.webhookSources.delete(source.id);
    return err(linked.error);
  }
  const token = `${source.id}.${secret}`;
  return ok({ source, token, url: `${deps.publicUrl.replace(/\/+$/, '')}/webhooks/tradingview/${token}` });
}

/** Deletes a source and unlinks its identity. */
export async function deleteWebhookSource(
  stores: Pick<HttpStores, 'webhookSources' | 'users'>,
  sourceId: string,
): Promise<boolean> {
  const deleted = await stores.webhookSources.delete(sourceId);
  if (deleted) await stores.users.unlinkIdentity('webhook', sourceId);
  return deleted;
}

/** The parts of a URL token, or null when it cannot be one. */
export function parseWebhookToken(token: string): { sourceId: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot < 1) return null;
  const sourceId = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  if (!/^[1-9][0-9]{0,18}$/.test(sourceId) || !TOKEN_SHAPE.test(secret)) return null;
  return { sourceId, secret };
}

/**
 * Allowlist entries as typed (one per line or comma separated): IPv4 or IPv6 addresses, or CIDR
 * ranges. Refuses anything else, naming the entry.
 */
export function parseAllowlist(entries: readonly string[] | string): Result<string[], Problem> {
  const list = (typeof entries === 'string' ? entries.split(/[\s,]+/) : entries)
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of list) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const bits = family === 4 ? 32 : 128;
    const validPrefix =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) >= 0 && Number(prefix) <= bits);
    if (family === 0 || !validPrefix || extra !== undefined) {
      return err({ code: 'invalid_ip', message: `not an IP address or CIDR range: ${entry}` });
    }
  }
  return ok([...new Set(list)]);
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`. */
function plainAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}

/** Whether `ip` may post to a source with this allowlist (an empty list allows everyone). */
export function ipAllowed(allowed: readonly string[], ip: string): boolean {
  if (allowed.length === 0) return true;
  const address = plainAddress(ip);
  const family = isIP(address);
  if (family === 0) return false;
  const block = new BlockList();
  for (const entry of allowed) {
    const [base, prefix] = entry.split('/') as [string, string | undefined];
    const single = plainAddress(base);
    if (prefix === undefined) block.addAddress(single, isIP(single) === 6 ? 'ipv6' : 'ipv4');
    else block.addSubnet(base, Number(prefix), isIP(base) === 6 ? 'ipv6' : 'ipv4');
  }
  return block.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
