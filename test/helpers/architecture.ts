/**
 * The dependency rules of DESIGN.md as a checker over import statements. Returns every violation
 * as "file: rule: import"; the architecture test asserts there are none.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface ImportRef {
  readonly from: string; // file, relative to root, with forward slashes
  readonly specifier: string;
  readonly typeOnly: boolean;
  /** Resolved path relative to root for relative specifiers; null for packages. */
  readonly target: string | null;
}

const IMPORT_RE =
  /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[\s\S]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function listSources(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|mts|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out;
}

export function importsOf(root: string, file: string): ImportRef[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(root, file).split(sep).join('/');
  const refs: ImportRef[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const specifier = m[3] ?? m[4];
    if (!specifier) continue;
    const typeOnly = Boolean(m[2]);
    let target: string | null = null;
    if (specifier.startsWith('.')) {
      const abs = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
      target = relative(root, abs).split(sep).join('/');
    }
    refs.push({ from, specifier, typeOnly, target });
  }
  return refs;
}

const DB_PACKAGES = /^(drizzle-orm|drizzle-kit|postgres|@electric-sql\/pglite)(\/|$)/;
const IO_PACKAGES =
  /^(pino|drizzle-orm|postgres|@electric-sql|ws|node-cron|discord\.js|telegraf|fastify|node:)/;

export function checkArchitecture(root: string): string[] {
  const violations: string[] = [];
  const files = listSources(root, ['src', 'bots', 'test']);
  for (const file of files) {
    for (const ref of importsOf(root, file)) {
      const v = (rule: string) => violations.push(`${ref.from}: ${rule}: ${ref.specifier}`);
      const { from, target } = ref;
      // 1. bots/ imports src/index.ts only; src/ never imports bots/ except main.ts.
      if (from.startsWith('bots/') && target?.startsWith('src/') && target !== 'src/index.ts') {
        v('bots/ may import only src/index.ts');
      }
      if (from.startsWith('src/') && target?.startsWith('bots/') && from !== 'src/main.ts') {
        v('src/ must not import bots/ (only src/main.ts starts the transports)');
      }
      // 2. domain/ is pure.
      if (from.startsWith('src/domain/')) {
        if (!target && IO_PACKAGES.test(ref.specifier)) v('domain/ must not import I/O packages');
        if (!target && !IO_PACKAGES.test(ref.specifier)) v('domain/ imports no packages');
        if (target && !target.startsWith('src/domain/')) v('domain/ imports only domain/');
      }
      // 3. venue folders stay behind brokers/broker.ts.
      const venue = target ? /^src\/brokers\/([^/]+)\//.exec(target)?.[1] : undefined;
      if (
        venue &&
        !from.startsWith(`src/brokers/${venue}/`) &&
        from !== 'src/app.ts' &&
        !from.startsWith('test/')
      ) {
        v(`a venue folder (brokers/${venue}) is imported outside brokers/ and app.ts`);
      }
      const ownVenue = /^src\/brokers\/([^/]+)\//.exec(from)?.[1];
      if (ownVenue && target?.startsWith('src/')) {
        const allowed =
          target.startsWith('src/domain/') ||
          target === 'src/brokers/broker.ts' ||
          target === 'src/brokers/errors.ts' ||
          target.startsWith(`src/brokers/${ownVenue}/`);
        if (!allowed) v(`brokers/${ownVenue} may import only domain/, brokers/broker.ts, brokers/errors.ts`);
      }
      // 4. drizzle and the drivers stay inside db/.
      if (
        !target &&
        DB_PACKAGES.test(ref.specifier) &&
        (from.startsWith('src/') || from.startsWith('bots/'))
      ) {
        if (!from.startsWith('src/db/')) v('drizzle and database drivers are used only inside db/');
      }
      // 5. only app.ts builds concrete infrastructure from db/ (type imports are fine).
      if (
        target?.startsWith('src/db/') &&
        !ref.typeOnly &&
        from.startsWith('src/') &&
        !from.startsWith('src/db/') &&
        from !== 'src/app.ts'
      ) {
        v('only app.ts may build the database and repositories');
      }
      // 6. nothing imports test/.
      if (target?.startsWith('test/') && !from.startsWith('test/')) v('nothing outside test/ imports test/');
    }
  }
  return violations;
}
