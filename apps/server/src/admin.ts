import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  ConfigError,
  dataSourceOptions,
  loadConfig,
  migrateUnderLock,
  parseDuration,
  queryRows,
  USERNAME_PATTERN,
  useBaselineWasmCompiler,
} from '@cariosan/core';
import { SCHEMA } from '@cariosan/migrations';
import {
  createInvite,
  DEFAULT_INVITE_TTL_SECONDS,
  hashPassword,
  insertUser,
  lockAccountsAndCheckEmpty,
  MAX_INVITE_TTL_SECONDS,
  MIN_INVITE_TTL_SECONDS,
} from '@cariosan/users';

/**
 * Account administration from the server's shell, for a server that runs with registration
 * closed (or invite-only) from its first boot:
 *
 *   node dist/apps/server/src/admin.js create <username> [--password-stdin] [--display-name NAME]
 *   node dist/apps/server/src/admin.js promote <username>
 *   node dist/apps/server/src/admin.js invite [--expires 7d]
 *
 * (`npm run admin -- <command> ...` from a checkout.) It reads the same configuration as the
 * server and applies pending migrations first (unless CARIOS_MIGRATE_ON_BOOT=false), so it
 * works before the server has ever started. On the embedded database the server must be stopped
 * (one process per data directory).
 */

const USAGE = `usage:
  admin create <username> [--password-stdin] [--display-name NAME]
      creates a server admin; prints a generated password unless --password-stdin
  admin promote <username>
      makes an existing account a server admin
  admin invite [--expires 7d]
      prints a single-use invite code (for CARIOS_REGISTRATION=invite)`;

/** Bad arguments: exit 64 (EX_USAGE) with the usage. */
class UsageError extends Error {}
/** The command could not be done (the account exists, or does not): exit 1. */
class CommandError extends Error {}

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const [command = '', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--password-stdin') flags.set(a, true);
    else if (a === '--display-name' || a === '--expires') {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { command, positional, flags };
}

function username(args: Args): string {
  if (args.positional.length !== 1) throw new UsageError(`${args.command} takes one username`);
  const name = args.positional[0]!.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  if (!USERNAME_PATTERN.test(name)) {
    throw new UsageError('a username is 2-32 characters of a-z, 0-9, _, . or -');
  }
  return name;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function create(ds: DataSource, args: Args): Promise<string> {
  const name = username(args);
  const fromStdin = args.flags.has('--password-stdin');
  const password = fromStdin ? await readStdin() : randomBytes(18).toString('base64url');
  const length = [...password].length;
  if (length < 8 || length > 256) throw new UsageError('a password is 8-256 characters');
  const displayName = args.flags.get('--display-name');
  const passwordHash = await hashPassword(password);
  const user = await ds.transaction(async (em) => {
    await lockAccountsAndCheckEmpty(em);
    return insertUser(em, {
      username: name,
      displayName: typeof displayName === 'string' ? displayName.normalize('NFC').trim() || name : name,
      passwordHash,
      isAdmin: true,
    });
  });
  if (!user) throw new CommandError(`${name} exists already: use promote`);
  const lines = [`created server admin ${user.username} (id ${user.id})`];
  // Printed once, to the operator's terminal; it is never logged or stored in clear.
  if (!fromStdin) lines.push(`password: ${password}`);
  return lines.join('\n');
}

async function promote(ds: DataSource, args: Args): Promise<string> {
  const name = username(args);
  const [row] = await queryRows<{ id: string }>(
    ds.manager,
    'UPDATE users SET is_admin = true WHERE username = $1 AND NOT is_bot RETURNING id',
    [name],
  );
  const id = row?.id;
  if (!id) throw new CommandError(`no account named ${name}`);
  return `${name} (id ${id}) is a server admin`;
}

async function invite(ds: DataSource, args: Args): Promise<string> {
  if (args.positional.length) throw new UsageError('invite takes no arguments');
  const expires = args.flags.get('--expires');
  const seconds =
    typeof expires === 'string' ? parseDuration('--expires', expires) / 1000 : DEFAULT_INVITE_TTL_SECONDS;
  if (seconds < MIN_INVITE_TTL_SECONDS || seconds > MAX_INVITE_TTL_SECONDS) {
    throw new UsageError('--expires is between 1m and 30d');
  }
  const { invite: made, code } = await createInvite(ds.manager, null, seconds);
  return `invite code: ${code}\nexpires: ${made.expiresAt}`;
}

const COMMANDS: Record<string, (ds: DataSource, args: Args) => Promise<string>> = { create, promote, invite };

async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
    if (!COMMANDS[args.command]) throw new UsageError(args.command ? `unknown command ${args.command}` : '');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message ? `${err.message}\n` : ''}${USAGE}\n`);
    return 64; // EX_USAGE
  }
  const config = loadConfig(process.env);
  if (!config.databaseUrl) useBaselineWasmCompiler();
  const options = dataSourceOptions(config, SCHEMA);
  const ds = await new DataSource({ ...options, logging: false }).initialize();
  try {
    const embedded = !config.databaseUrl;
    if (config.migrateOnBoot) await migrateUnderLock(ds, embedded);
    else if (await ds.showMigrations()) throw new Error('migrations are pending: run them first');
    process.stdout.write(`${await COMMANDS[args.command]!(ds, args)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      return 64;
    }
    if (!(err instanceof CommandError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  } finally {
    await ds.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const config = err instanceof ConfigError;
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(config ? 78 : 1);
  },
);
