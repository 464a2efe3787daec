import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

export type Cell = string | number | undefined;

export interface Row {
  metric: string;
  value: Cell;
  baseline?: Cell;
  ratio?: Cell;
  /** Further baselines of the same run, in the order of `printTable`'s `baselines` labels after the first. */
  more?: { baseline?: Cell; ratio?: Cell }[];
  target?: string;
  note?: string;
}

/** Formats a number for the table: fixed decimals, thousands separators for big values. */
export function fmt(v: Cell, decimals = 2): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Number.isInteger(v)) return String(v);
  // Small figures (Redis commands per frame) keep two significant digits instead of rounding to 0.
  if (Math.abs(v) < 0.1) return v.toPrecision(2);
  return v.toFixed(decimals);
}

/** value / baseline, printed as "0.83x". */
export function ratio(value: number, baseline: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return 'n/a';
  return `${(value / baseline).toFixed(2)}x`;
}

/**
 * Prints a markdown table: metric, server, then a value and a ratio column per baseline
 * (`baselines` names them; one plain "baseline" by default), target, note.
 */
export function printTable(title: string, rows: Row[], baselines: string[] = ['baseline']): string {
  const header = [
    'metric',
    'server',
    ...baselines.flatMap((b) => [b, baselines.length > 1 ? `vs ${b}` : 'ratio']),
    'target',
    'note',
  ];
  const body = rows.map((r) => [
    r.metric,
    fmt(r.value),
    fmt(r.baseline),
    fmt(r.ratio),
    ...baselines.slice(1).flatMap((_, i) => [fmt(r.more?.[i]?.baseline), fmt(r.more?.[i]?.ratio)]),
    r.target ?? '',
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [
    `\n${title}`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
  process.stdout.write(`${out}\n`);
  return out;
}

export function machineLoad(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

/** Writes bench-results/<scenario>-<timestamp>.json under the working directory. */
export function writeResult(scenario: string, data: unknown): string {
  const dir = resolve(process.cwd(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${scenario}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${file}\n`);
  return file;
}
