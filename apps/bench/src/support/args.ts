/** `--name value`, `--name=value` and bare `--flag` (true) after the scenario name. */
export function parseFlags(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      flags.set(a.slice(2), argv[++i]!);
    } else {
      flags.set(a.slice(2), 'true');
    }
  }
  return flags;
}

export class Flags {
  private readonly used = new Set<string>();
  constructor(private readonly flags: Map<string, string>) {}

  num(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be a number in [${min}, ${max}], got "${raw}"`);
    return n;
  }

  /** A comma-separated list of numbers, e.g. `--rates 20,50,100`. */
  nums(name: string, fallback: number[], min = 0, max = Number.MAX_SAFE_INTEGER): number[] {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    return raw.split(',').map((p) => {
      const n = Number(p);
      if (!Number.isFinite(n) || n < min || n > max)
        throw new Error(`--${name} entries must be numbers in [${min}, ${max}]`);
      return n;
    });
  }

  bool(name: string, fallback: boolean): boolean {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new Error(`--${name} must be true or false`);
  }

  /** One of `options`, e.g. `--baseline json`. */
  choice<T extends string>(name: string, options: readonly T[], fallback: T): T {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    if (!(options as readonly string[]).includes(raw))
      throw new Error(`--${name} must be one of ${options.join(', ')}, got "${raw}"`);
    return raw as T;
  }

  /** A comma-separated subset of `options`, e.g. `--sides server,raw`. */
  choices<T extends string>(name: string, options: readonly T[], fallback: T[]): T[] {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    return raw.split(',').map((v) => {
      if (!(options as readonly string[]).includes(v))
        throw new Error(`--${name} entries must be among ${options.join(', ')}, got "${v}"`);
      return v as T;
    });
  }

  /** Fails on flags no scenario asked for, so a typo does not silently run the defaults. */
  assertAllUsed(): void {
    const unknown = [...this.flags.keys()].filter((k) => !this.used.has(k));
    if (unknown.length) throw new Error(`unknown flag(s): ${unknown.map((k) => `--${k}`).join(', ')}`);
  }
}
