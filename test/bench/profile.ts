/**
 * CPU profiles of the timed part of a benchmark only (set-up and untimed clean-up are left out).
 * `BENCH_PROFILE=<dir>` turns it on; each process writes `<dir>/<name>.cpuprofile` on `save`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export class WindowProfiler {
  private readonly session: Session | null;
  private merged: {
    nodes: unknown[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  } | null = null;

  constructor(
    private readonly dir: string | undefined,
    private readonly name: string,
  ) {
    this.session = dir ? new Session() : null;
    this.session?.connect();
  }

  async start(): Promise<void> {
    if (!this.session) return;
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.session.post('Profiler.start');
  }

  /** Stop and keep the window's samples; windows are appended into one profile. */
  async stop(): Promise<void> {
    if (!this.session) return;
    const { profile } = await this.session.post('Profiler.stop');
    if (!this.merged) {
      this.merged = {
        nodes: profile.nodes,
        samples: profile.samples ?? [],
        timeDeltas: profile.timeDeltas ?? [],
        startTime: profile.startTime,
        endTime: profile.endTime,
      };
      return;
    }
    // Node ids are per profile: offset the later window's ids past the first's.
    const offset = Math.max(...(this.merged.nodes as { id: number }[]).map((n) => n.id));
    for (const n of profile.nodes) {
      this.merged.nodes.push({
        ...n,
        id: n.id + offset,
        ...(n.children ? { children: n.children.map((c) => c + offset) } : {}),
      });
    }
    this.merged.samples.push(...(profile.samples ?? []).map((s) => s + offset));
    this.merged.timeDeltas.push(...(profile.timeDeltas ?? []));
    this.merged.endTime += profile.endTime - profile.startTime;
  }

  save(): void {
    if (!this.dir || !this.merged) return;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, `${this.name}.cpuprofile`), JSON.stringify(this.merged));
  }
}
