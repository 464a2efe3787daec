import { Injectable } from '@nestjs/common';

/** A dependency check: resolves when the dependency answers, throws (or rejects) when it does not. */
export type ReadinessProbe = () => Promise<void>;

/** Modules register the dependencies they need here; `/readyz` asks each one. */
@Injectable()
export class ReadinessRegistry {
  private readonly probes = new Map<string, ReadinessProbe>();

  register(name: string, probe: ReadinessProbe): void {
    this.probes.set(name, probe);
  }

  entries(): [string, ReadinessProbe][] {
    return [...this.probes.entries()];
  }
}
