/**
 * CPU profiles of the timed part of a benchmark only (set-up and untimed clean-up are left out).
 * `BENCH_PROFILE=<dir>` turns it on; each process writes `<dir>/<name>.cpuprofile` on `save`.
 * With `BENCH_PROFILE_HEAP=1` as well, it also samples what the timed part allocates (objects
 * collected since included) and writes `<dir>/<name>.<window>.heapprofile` per timed window.
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
  private readonly heap = process.env.BENCH_PROFILE_HEAP === '1';
  private readonly heapProfiles: unknown[] = [];

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
    if (this.heap) {
      await this.session.post('HeapProfiler.enable');
      await this.session.post('HeapProfiler.startSampling', {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
  }

  /** Stop and keep the window's samples; windows are appended into one profile. */
  async stop(): Promise<void> {
    if (!this.session) return;
    const { profile } = await this.session.post('Profiler.stop');
    if (this.heap) this.heapProfiles.push((await this.session.post('HeapProfiler.stopSampling')).profile);
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
    for (const [i, heap] of this.heapProfiles.entries()) {
      writeFileSync(join(this.dir, `${this.name}.${i + 1}.heapprofile`), JSON.stringify(heap));
    }
  }
}
