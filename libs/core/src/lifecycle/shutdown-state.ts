import { Injectable } from '@nestjs/common';

/**
 * Set once SIGTERM arrives. Readiness answers 503 from then on, the gateway closes its
 * sockets with 1001 and a draining node stops announcing itself.
 */
@Injectable()
export class ShutdownState {
  private draining = false;
  private readonly hooks: (() => Promise<void> | void)[] = [];

  get isDraining(): boolean {
    return this.draining;
  }

  /** Registers work to run as soon as draining starts (before the HTTP server closes). */
  onDrain(hook: () => Promise<void> | void): void {
    this.hooks.push(hook);
  }

  async beginDrain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    await Promise.allSettled(this.hooks.map(async (h) => h()));
  }
}
