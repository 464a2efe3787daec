import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { SCHEMA } from '@cariosan/migrations';
import { Api, registerUser } from '../support/api';
import { SERVER_ENTRY, startStack, TestStack } from '../support/server';

/**
 * The rollback loop of docs/operations.md: the server migrates up at boot, the operator reverts
 * every migration with the documented command (`npm run migration:revert`, i.e. the TypeORM CLI
 * on the build), and a server booted afterwards migrates up again and serves.
 */
const DIST = resolve(SERVER_ENTRY, '../../../..');
const MIGRATIONS = Array.isArray(SCHEMA.migrations) ? SCHEMA.migrations.length : 0;

function revert(env: Record<string, string>): string {
  return execFileSync(
    process.execPath,
    [require.resolve('typeorm/cli.js'), 'migration:revert', '-d', resolve(DIST, 'migrations/data-source.js')],
    { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
  );
}

describe('migrations up, down and up again', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack(1);
  });
  afterAll(() => stack.close());

  it('boots, reverts every migration with the documented command, boots again and serves', async () => {
    expect(MIGRATIONS).toBeGreaterThanOrEqual(3);
    const first = new Api(stack.servers[0]!.url);
    await registerUser(first);
    await stack.servers[0]!.stop();

    const logs: string[] = [];
    for (let i = 0; i < MIGRATIONS; i++) logs.push(revert(stack.env));
    expect(logs.join('\n').match(/has been reverted successfully/g)).toHaveLength(MIGRATIONS);
    expect(revert(stack.env)).toMatch(/No migrations were found in the database/);

    const again = await stack.start({ CARIOS_LOG_LEVEL: 'info' });
    expect(again.output()).toMatch(/migrations applied: /);
    const api = new Api(again.url);
    // The data went with the downs: the first account on the emptied server is admin again.
    expect((await registerUser(api)).isAdmin).toBe(true);
  });
});
