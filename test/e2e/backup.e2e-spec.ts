import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Api, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { createTestDatabase } from '../support/database';
import { describeWithPostgres } from '../support/describe';
import { startServer, startStack, TestStack, ServerProcess } from '../support/server';

/**
 * The backup and restore drill of docs/operations.md, as an operator runs it: scripts/backup.sh
 * while the server serves, scripts/restore.sh into a new database, a server booted on that one,
 * and the history read back the same. Needs real Postgres and its client tools.
 */
const ROOT = resolve(__dirname, '../..');
const hasTools = ['pg_dump', 'pg_restore', 'psql'].every((t) => spawnSync(t, ['--version']).status === 0);

(hasTools ? describeWithPostgres : describe.skip)('backup and restore drill', () => {
  let stack: TestStack;
  let api: Api;
  let ada: TestUser;
  let channelId: string;
  let history: unknown;
  let thread: unknown;
  let dir: string;
  let dump: string;
  let target: Awaited<ReturnType<typeof createTestDatabase>>;
  let restored: ServerProcess;

  beforeAll(async () => {
    stack = await startStack(1);
    api = new Api(stack.servers[0]!.url);
    ada = await registerUser(api, { displayName: 'Ada' });
    const grace = await registerUser(api);
    channelId = (await createChannel(ada)).id;
    await grace.api.put(`/api/v1/channels/${channelId}/members/@me`);
    const root = await postMessage(ada, channelId, 'before the backup');
    await postMessage(grace, channelId, `a reply to @${ada.username}`, { parentId: root.id });
    await grace.api.put(
      `/api/v1/channels/${channelId}/messages/${root.id}/reactions/${encodeURIComponent('👍')}/@me`,
    );
    history = (await ada.api.get(`/api/v1/channels/${channelId}/messages`)).body;
    thread = (await ada.api.get(`/api/v1/channels/${channelId}/messages/${root.id}/replies`)).body;
    dir = mkdtempSync(join(tmpdir(), 'cariosan-backup-'));
  });
  afterAll(async () => {
    await restored?.stop('SIGKILL');
    await target?.drop();
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dumps the live database into one file', () => {
    const out = execFileSync('bash', [join(ROOT, 'scripts/backup.sh'), dir], {
      env: { PATH: process.env.PATH ?? '', CARIOS_DATABASE_URL: stack.env.CARIOS_DATABASE_URL! },
      encoding: 'utf8',
    });
    dump = out.trim();
    expect(dump).toMatch(/cariosan-\d{8}T\d{6}Z\.dump$/);
    expect(statSync(dump).size).toBeGreaterThan(1000);
  });

  it('restores into a new database, and refuses one that is not empty', async () => {
    target = await createTestDatabase();
    const restore = (url: string) =>
      spawnSync('bash', [join(ROOT, 'scripts/restore.sh'), dump, url], {
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      });
    const first = restore(target!.url);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^restored .* \d+ migration\(s\) recorded$/m);
    const again = restore(target!.url);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/refusing to restore/);
    // Nor over the live database it came from.
    expect(restore(stack.env.CARIOS_DATABASE_URL!).status).toBe(1);
  });

  it('boots a server on the restored database that serves the same history', async () => {
    restored = await startServer({
      env: { CARIOS_DATABASE_URL: target!.url, CARIOS_DATA_DIR: dir, CARIOS_LOG_LEVEL: 'info' },
    });
    expect(restored.output()).toMatch(/schema up to date/);
    const there = new Api(restored.url);
    // The same accounts (passwords and tokens) and the same messages, reactions and thread.
    const login = await there.post('/api/v1/auth/login', { username: ada.username, password: 'password123' });
    expect(login.status).toBe(200);
    const adaThere = there.as(ada.token);
    expect((await adaThere.get(`/api/v1/channels/${channelId}/messages`)).body).toEqual(history);
    const rootId = (history as { id: string; parentId: string | null }[]).find((m) => !m.parentId)!.id;
    expect((await adaThere.get(`/api/v1/channels/${channelId}/messages/${rootId}/replies`)).body).toEqual(
      thread,
    );
    // And it goes on: a new message gets a newer id than everything restored.
    const after = await adaThere.post(`/api/v1/channels/${channelId}/messages`, {
      content: 'after the restore',
    });
    expect(after.status).toBe(201);
    const newest = (history as { id: string }[])[0]!.id;
    expect(BigInt(after.body.id as string) > BigInt(newest)).toBe(true);
  });
});
