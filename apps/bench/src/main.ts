/**
 * `npm run bench -- <scenario> [--flags]`: starts the built server(s) on a fresh database,
 * drives them from separate load processes, and prints each figure beside a baseline measured
 * in the same run. See docs/benchmarks.md.
 */
import { Flags, parseFlags } from './support/args';
import { interruptCleanup, killAllChildren } from './support/processes';
import { runPost } from './scenarios/post';
import { runHistory } from './scenarios/history';
import { runFanout } from './scenarios/fanout';
import { runIdle } from './scenarios/idle';
import { runBoot } from './scenarios/boot';
import { runWebhooks } from './scenarios/webhooks';

const SCENARIOS: Record<string, (flags: Flags) => Promise<void>> = {
  post: runPost,
  history: runHistory,
  fanout: runFanout,
  idle: runIdle,
  boot: runBoot,
  webhooks: runWebhooks,
};

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const scenario = name ? SCENARIOS[name] : undefined;
  if (!scenario) {
    process.stderr.write(
      `usage: npm run bench -- <${Object.keys(SCENARIOS).join('|')}> [--flags]  (see docs/benchmarks.md)\n`,
    );
    process.exit(2);
  }
  await scenario(new Flags(parseFlags(rest)));
}

let interrupted = false;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`${signal}: stopping children and dropping the bench database\n`);
    void interruptCleanup().finally(() => process.exit(130));
  });
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    // An interrupt makes the load processes vanish under the scenario; that is not news.
    if (interrupted) return;
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    // Scenarios drop their database in `finally`; whatever is left running goes now.
    killAllChildren();
    process.exit(1);
  });
