/**
 * Dedup keys for deliveries that carry no id of their own. An alert with an id (`id`, `alertId`,
 * `alert_id`) is keyed by it; otherwise by a hash of its body within the minute it arrived, and the
 * previous minute's key counts too, so a resend 59 seconds later across a minute boundary is still
 * caught.
 */
import { createHash } from 'node:crypto';

export interface DedupKeys {
  readonly dedupKey: string;
  readonly priorDedupKeys: readonly string[];
}

const MINUTE = 60_000;

export function alertDedupKeys(sourceId: string, body: unknown, receivedAt: Date): DedupKeys {
  const id = alertId(body);
  if (id !== null) return { dedupKey: `alert:${sourceId}:id:${id}`, priorDedupKeys: [] };
  const hash = createHash('sha256').update(canonical(body)).digest('base64url').slice(0, 32);
  const minute = Math.floor(receivedAt.getTime() / MINUTE);
  return {
    dedupKey: `alert:${sourceId}:${hash}:${minute}`,
    priorDedupKeys: [`alert:${sourceId}:${hash}:${minute - 1}`],
  };
}

function alertId(body: unknown): string | null {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return null;
    }
  }
  if (value === null || typeof value !== 'object') return null;
  const record = value as Record<string, unknown>;
  for (const key of ['id', 'alertId', 'alert_id']) {
    const v = record[key];
    if ((typeof v === 'string' && v.trim() !== '') || typeof v === 'number')
      return String(v).trim().slice(0, 128);
  }
  return null;
}

/** Key order and surrounding whitespace do not make two alerts different. */
function canonical(body: unknown): string {
  if (typeof body === 'string') {
    const trimmed = body.trim();
    try {
      return canonical(JSON.parse(trimmed));
    } catch {
      return trimmed.replace(/\s+/g, ' ');
    }
  }
  return JSON.stringify(sortKeys(body));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
