import { desc } from 'drizzle-orm';
import type { Db } from '../client.js';
import { auditEvents } from '../schema/index.js';
import { idString } from './ids.js';
import type { AuditEvent } from './types.js';

/** The audit trail: who did what to what. Append-only. */
export class AuditRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** Appends an event. `details` must never hold a secret. */
  async record(event: {
    actor: string;
    action: string;
    subject: string;
    details?: Readonly<Record<string, unknown>>;
  }): Promise<AuditEvent> {
    const [row] = await this.#db
      .insert(auditEvents)
      .values({
        actor: event.actor,
        action: event.action,
        subject: event.subject,
        details: { ...event.details },
      })
      .returning();
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return { ...row, id: idString(row.id) };
  }

  /** The latest events, newest first. */
  async recent(limit: number): Promise<AuditEvent[]> {
    const rows = await this.#db.select().from(auditEvents).orderBy(desc(auditEvents.id)).limit(limit);
    return rows.map((row) => ({ ...row, id: idString(row.id) }));
  }
}
