/** In-memory stand-ins for the repositories the jobs use, for tests that drive many minutes fast. */
import { err } from '../../../src/domain/result.js';
import type { CredentialState, Platform } from '../../../src/domain/types.js';
import type {
  RefreshCredential,
  RefreshCredentialStore,
  RenewToken,
} from '../../../src/jobs/token-refresh.js';
import type { Notification, Notifier } from '../../../src/ports/notifier.js';

export type MutableCredential = { -readonly [K in keyof RefreshCredential]: RefreshCredential[K] };

/** Credentials with the repository's semantics for due listing (state ok, most overdue first). */
export class MemoryCredentials implements RefreshCredentialStore {
  readonly byId = new Map<string, MutableCredential>();
  private ordered: MutableCredential[] | null = null;
  stateChanges: [string, CredentialState, string | null][] = [];

  add(c: Partial<MutableCredential> & { id: string }): MutableCredential {
    const credential: MutableCredential = {
      ownerUserId: '1',
      broker: 'tradovate',
      label: `cred ${c.id}`,
      state: 'ok',
      tokenExpiresAt: null,
      nextRefreshAt: null,
      ...c,
    };
    this.byId.set(credential.id, credential);
    this.ordered = null;
    return credential;
  }

  async list(): Promise<RefreshCredential[]> {
    return [...this.byId.values()].map((c) => ({ ...c }));
  }
  async get(id: string): Promise<RefreshCredential | null> {
    const c = this.byId.get(id);
    return c ? { ...c } : null;
  }
  async listDueForRefresh(before: Date, limit: number): Promise<RefreshCredential[]> {
    const t = before.getTime();
    // Kept sorted between calls: few refresh times change per minute, so the sort finds it nearly
    // in order and runs in about linear time, as an index would serve it.
    this.ordered ??= [...this.byId.values()];
    const key = (c: MutableCredential) => c.nextRefreshAt?.getTime() ?? Number.POSITIVE_INFINITY;
    this.ordered.sort((a, b) => key(a) - key(b) || Number(a.id) - Number(b.id));
    const out: MutableCredential[] = [];
    for (const c of this.ordered) {
      if (key(c) > t || out.length >= limit) break;
      // Handed out as they are: the job reads them and never changes them.
      if (c.state === 'ok') out.push(c);
    }
    return out;
  }
  async setNextRefresh(id: string, at: Date | null): Promise<boolean> {
    const c = this.byId.get(id);
    if (!c) return false;
    c.nextRefreshAt = at;
    return true;
  }
  async setState(
    id: string,
    state: CredentialState,
    reason: string | null,
  ): Promise<RefreshCredential | null> {
    const c = this.byId.get(id);
    if (!c) return null;
    c.state = state;
    this.stateChanges.push([id, state, reason]);
    return { ...c };
  }
}

export class RecordingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  async notify(notification: Notification): Promise<void> {
    this.sent.push(notification);
  }
}

export function identities(map: Record<string, { platform: Platform; externalId: string }[]>) {
  return { listIdentities: async (userId: string) => map[userId] ?? [] };
}

/** A clock the test moves by hand. */
export class TestClock {
  constructor(public t: number) {}
  now = () => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A seeded uniform generator (mulberry32), so jitter draws repeat run to run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A renewal that always fails the same way; `calls` holds the clock time of each try. */
export function failingRenew(
  clock: TestClock,
  reason: string,
  retryable = true,
): RenewToken & { calls: number[] } {
  const calls: number[] = [];
  const fn: RenewToken = async () => {
    calls.push(clock.t);
    return err({ kind: 'unavailable', reason, message: `${reason} (test)`, retryable });
  };
  return Object.assign(fn, { calls });
}
