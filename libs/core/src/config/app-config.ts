/**
 * The one configuration object. Every setting is read here from the environment, parsed,
 * validated and given its default; nothing else in the code base reads `process.env`.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid configuration: ${variable} ${reason}`);
  }
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface S3Config {
  endpoint: string | undefined;
  publicEndpoint: string | undefined;
  accessKey: string | undefined;
  secretKey: string | undefined;
  bucket: string;
  region: string;
}

export interface RateLimitConfig {
  /** Requests per window for an authenticated user. */
  perWindow: number;
  /** Requests per window for one client IP without a (known) token, refused requests included. */
  anonymousPerWindow: number;
  /** Login attempts per window for one IP + username. */
  loginPerWindow: number;
  /** Login attempts per window for one username from every IP together. */
  loginAccountPerWindow: number;
  /** Posts per window by one user in one channel. */
  postsPerWindow: number;
  windowSeconds: number;
  /** Client frames per gateway connection per `gatewayWindowSeconds`. */
  gatewayFrames: number;
  gatewayWindowSeconds: number;
}

export type RegistrationMode = 'open' | 'invite' | 'closed';

export const REGISTRATION_MODES: readonly RegistrationMode[] = ['open', 'invite', 'closed'];

/** Usernames: 2-32 characters of a-z, 0-9, `_`, `.`, `-` (the contract's rule). */
export const USERNAME_PATTERN = /^[a-z0-9_.-]{2,32}$/;

export class AppConfig {
  port = 8080;
  /** Loopback by default: a fresh server is not reachable from the network until asked to be. */
  host = '127.0.0.1';
  databaseUrl: string | undefined = undefined;
  /** Connections each replica keeps to Postgres at most. */
  databasePoolSize = 20;
  /**
   * How long a statement waits for a row lock (e.g. a channel's write lock) before it gives up
   * and the request answers 503: a stuck channel fails its own writes fast instead of piling up.
   */
  databaseLockTimeoutMs = 2000;
  /** Longest a statement may run before Postgres cancels it (the request answers 503). */
  databaseStatementTimeoutMs = 10_000;
  redisUrl: string | undefined = undefined;
  /** Prefix of every Redis key and pub/sub channel, so several deployments can share one Redis. */
  redisPrefix = 'cariosan:';
  dataDir = './data';
  s3: S3Config | undefined = undefined;
  trustProxyHops = 0;
  maxUploadBytes = 26_214_400;
  /** Uploads never attached to a message are deleted after this long. */
  uploadGracePeriodMs = 86_400_000;
  /**
   * The server's address as browsers reach it: the local-disk attachment adapter puts it in its
   * upload and download URLs. Undefined: http://<host>:<port> (localhost for a wildcard host).
   */
  publicUrl: string | undefined = undefined;
  /** Browser origins allowed to call the REST API (CORS); empty: none. */
  corsOrigins: string[] = [];
  /** Delays in milliseconds between webhook delivery attempts. */
  webhookRetryScheduleMs: number[] = parseDurationList(
    'CARIOS_WEBHOOK_RETRY_SCHEDULE',
    '5s,5m,30m,2h,5h,10h,10h',
  );
  webhookDisableAfterMs = parseDuration('CARIOS_WEBHOOK_DISABLE_AFTER', '5d');
  webhookAllowPrivateNetworks = false;
  /** When set, webhook secrets are stored encrypted with a key derived from it (AES-256-GCM). */
  webhookSecretKey: string | undefined = undefined;
  migrateOnBoot = true;
  logLevel: LogLevel = 'info';
  /** Origins allowed to open a gateway socket; empty allows any. */
  allowedOrigins: string[] = [];
  rateLimit: RateLimitConfig = {
    perWindow: 600,
    anonymousPerWindow: 600,
    loginPerWindow: 10,
    loginAccountPerWindow: 30,
    postsPerWindow: 300,
    windowSeconds: 60,
    gatewayFrames: 120,
    gatewayWindowSeconds: 60,
  };
  /** How long in-flight requests may take to finish after SIGTERM. */
  shutdownTimeoutMs = 10_000;
  /** Largest JSON request body accepted. */
  bodyLimitBytes = 262_144;
  /** Gateway heartbeat interval announced in HELLO; no heartbeat for 1.5 intervals closes 4009. */
  gatewayHeartbeatMs = 30_000;
  /** Time a new gateway socket has to IDENTIFY or RESUME before it is closed with 4001. */
  gatewayIdentifyTimeoutMs = 10_000;
  /** How long a disconnected gateway session stays resumable (the contract asks for >= 2 min). */
  gatewayResumeWindowMs = 120_000;
  /** Live gateway sessions one user may hold across every replica; a new one closes the oldest (4008). */
  gatewayMaxSessionsPerUser = 16;
  /** Connections of one client IP that have not identified yet, per replica; more are refused (429). */
  gatewayMaxUnidentifiedPerIp = 32;
  /**
   * How long a replica's claim on a user's presence lasts without a refresh (refreshed every third
   * of it): a killed replica's users turn offline within this plus one sweep (a sixth of it).
   */
  presenceTtlMs = 30_000;
  /** Who may create an account over HTTP: anyone, holders of an invite code, or nobody. */
  registration: RegistrationMode = 'open';
  /** When set, only this username may register first (and so become the admin) on an empty server. */
  adminUsername: string | undefined = undefined;

  get secrets(): string[] {
    const out: string[] = [];
    if (this.s3?.secretKey) out.push(this.s3.secretKey);
    if (this.webhookSecretKey) out.push(this.webhookSecretKey);
    for (const url of [this.databaseUrl, this.redisUrl]) {
      if (url) out.push(...urlPasswords(url));
    }
    return out;
  }
}

/** A URL's password as written (percent-encoded, as a printed URL shows it) and decoded. */
function urlPasswords(url: string): string[] {
  try {
    const raw = new URL(url).password;
    return raw ? [...new Set([raw, decodeURIComponent(raw)])] : [];
  } catch {
    return [];
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // Never echo the value: it may carry a password.
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
  }
  return raw;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `5s`, `5m`, `2h`, `5d` into milliseconds. */
export function parseDuration(name: string, raw: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) throw new ConfigError(name, `must be a duration like 5s, 30m, 2h or 5d, got "${raw}"`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export function parseDurationList(name: string, raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new ConfigError(name, `must be a comma-separated list of durations, got "${raw}"`);
  }
  return parts.map((p) => parseDuration(name, p));
}

/**
 * A comma-separated list of browser origins, each normalised to what a browser sends in `Origin`
 * (`https://Chat.Example.com:443/` becomes `https://chat.example.com`), so an entry written with a
 * trailing slash, upper case or the default port still matches instead of being silently refused.
 */
export function parseOrigins(name: string, raw: string | undefined): string[] {
  if (!raw) return [];
  const out: string[] = [];
  for (const entry of raw.split(',').map((o) => o.trim())) {
    if (!entry) continue;
    let u: URL | undefined;
    try {
      u = new URL(entry);
    } catch {
      u = undefined;
    }
    const onlyOrigin = u && u.pathname === '/' && !u.search && !u.hash && !u.username && !u.password;
    if (
      !u ||
      !['http:', 'https:'].includes(u.protocol) ||
      !onlyOrigin ||
      !/^[a-z]+:\/\/[^/]+\/?$/i.test(entry)
    ) {
      throw new ConfigError(name, `entries must look like https://chat.example.com, got "${entry}"`);
    }
    if (!out.includes(u.origin)) out.push(u.origin);
  }
  return out;
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env): AppConfig {
  const c = new AppConfig();
  c.port = int(env, 'CARIOS_PORT', c.port, 0, 65535);
  c.host = str(env, 'CARIOS_HOST') ?? c.host;
  c.databaseUrl = url(env, 'CARIOS_DATABASE_URL', ['postgres:', 'postgresql:']);
  c.databasePoolSize = int(env, 'CARIOS_DATABASE_POOL_SIZE', c.databasePoolSize, 1, 1000);
  c.databaseLockTimeoutMs = int(env, 'CARIOS_DATABASE_LOCK_TIMEOUT_MS', c.databaseLockTimeoutMs, 50, 600_000);
  c.databaseStatementTimeoutMs = int(
    env,
    'CARIOS_DATABASE_STATEMENT_TIMEOUT_MS',
    c.databaseStatementTimeoutMs,
    100,
    3_600_000,
  );
  c.redisUrl = url(env, 'CARIOS_REDIS_URL', ['redis:', 'rediss:']);
  const prefix = str(env, 'CARIOS_REDIS_PREFIX');
  if (prefix !== undefined) {
    if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
      throw new ConfigError(
        'CARIOS_REDIS_PREFIX',
        `must be 1-64 characters of A-Z a-z 0-9 : _ . -, got "${prefix}"`,
      );
    }
    c.redisPrefix = prefix;
  }
  c.dataDir = str(env, 'CARIOS_DATA_DIR') ?? c.dataDir;
  c.trustProxyHops = int(env, 'CARIOS_TRUST_PROXY_HOPS', c.trustProxyHops, 0, 10);
  c.maxUploadBytes = int(env, 'CARIOS_MAX_UPLOAD_BYTES', c.maxUploadBytes, 1, 5 * 1024 ** 4);
  const grace = str(env, 'CARIOS_UPLOAD_GRACE_PERIOD');
  if (grace) c.uploadGracePeriodMs = parseDuration('CARIOS_UPLOAD_GRACE_PERIOD', grace);
  if (c.uploadGracePeriodMs < 1000)
    throw new ConfigError('CARIOS_UPLOAD_GRACE_PERIOD', `must be at least 1s, got "${grace}"`);
  const publicUrl = url(env, 'CARIOS_PUBLIC_URL', ['http:', 'https:']);
  c.publicUrl = publicUrl?.replace(/\/+$/, '');
  c.corsOrigins = parseOrigins('CARIOS_CORS_ORIGINS', str(env, 'CARIOS_CORS_ORIGINS'));
  const schedule = str(env, 'CARIOS_WEBHOOK_RETRY_SCHEDULE');
  if (schedule) c.webhookRetryScheduleMs = parseDurationList('CARIOS_WEBHOOK_RETRY_SCHEDULE', schedule);
  const disableAfter = str(env, 'CARIOS_WEBHOOK_DISABLE_AFTER');
  if (disableAfter) c.webhookDisableAfterMs = parseDuration('CARIOS_WEBHOOK_DISABLE_AFTER', disableAfter);
  c.webhookAllowPrivateNetworks = bool(env, 'CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS', false);
  const secretKey = str(env, 'CARIOS_WEBHOOK_SECRET_KEY');
  if (secretKey !== undefined && secretKey.length < 32) {
    // Never echo the value: it is a secret.
    throw new ConfigError('CARIOS_WEBHOOK_SECRET_KEY', 'must be at least 32 characters long');
  }
  c.webhookSecretKey = secretKey;
  c.migrateOnBoot = bool(env, 'CARIOS_MIGRATE_ON_BOOT', true);

  const level = str(env, 'CARIOS_LOG_LEVEL')?.toLowerCase();
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) {
      throw new ConfigError('CARIOS_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
    }
    c.logLevel = level as LogLevel;
  }

  c.allowedOrigins = parseOrigins('CARIOS_ALLOWED_ORIGINS', str(env, 'CARIOS_ALLOWED_ORIGINS'));

  const rl = c.rateLimit;
  c.rateLimit = {
    perWindow: int(env, 'CARIOS_RATE_LIMIT_REQUESTS', rl.perWindow, 1, 1_000_000),
    anonymousPerWindow: int(env, 'CARIOS_RATE_LIMIT_ANONYMOUS', rl.anonymousPerWindow, 1, 1_000_000),
    loginPerWindow: int(env, 'CARIOS_RATE_LIMIT_LOGIN', rl.loginPerWindow, 1, 1_000_000),
    loginAccountPerWindow: int(
      env,
      'CARIOS_RATE_LIMIT_LOGIN_ACCOUNT',
      rl.loginAccountPerWindow,
      1,
      1_000_000,
    ),
    postsPerWindow: int(env, 'CARIOS_RATE_LIMIT_POSTS', rl.postsPerWindow, 1, 1_000_000),
    windowSeconds: int(env, 'CARIOS_RATE_LIMIT_WINDOW_SECONDS', rl.windowSeconds, 1, 86_400),
    gatewayFrames: int(env, 'CARIOS_RATE_LIMIT_GATEWAY_FRAMES', rl.gatewayFrames, 1, 1_000_000),
    gatewayWindowSeconds: int(
      env,
      'CARIOS_RATE_LIMIT_GATEWAY_WINDOW_SECONDS',
      rl.gatewayWindowSeconds,
      1,
      3600,
    ),
  };
  c.shutdownTimeoutMs = int(env, 'CARIOS_SHUTDOWN_TIMEOUT_MS', c.shutdownTimeoutMs, 0, 120_000);
  c.gatewayHeartbeatMs = int(env, 'CARIOS_GATEWAY_HEARTBEAT_MS', c.gatewayHeartbeatMs, 200, 600_000);
  c.gatewayIdentifyTimeoutMs = int(
    env,
    'CARIOS_GATEWAY_IDENTIFY_TIMEOUT_MS',
    c.gatewayIdentifyTimeoutMs,
    100,
    600_000,
  );
  c.gatewayResumeWindowMs = int(
    env,
    'CARIOS_GATEWAY_RESUME_WINDOW_MS',
    c.gatewayResumeWindowMs,
    120_000,
    86_400_000,
  );
  c.gatewayMaxSessionsPerUser = int(
    env,
    'CARIOS_GATEWAY_MAX_SESSIONS_PER_USER',
    c.gatewayMaxSessionsPerUser,
    1,
    10_000,
  );
  c.gatewayMaxUnidentifiedPerIp = int(
    env,
    'CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP',
    c.gatewayMaxUnidentifiedPerIp,
    1,
    1_000_000,
  );
  // At most 50 s: a TTL plus one sweep (a sixth of it) stays within the contract's 60 s.
  c.presenceTtlMs = int(env, 'CARIOS_PRESENCE_TTL_MS', c.presenceTtlMs, 1000, 50_000);

  const registration = str(env, 'CARIOS_REGISTRATION')?.toLowerCase();
  if (registration !== undefined) {
    if (!REGISTRATION_MODES.includes(registration as RegistrationMode)) {
      throw new ConfigError(
        'CARIOS_REGISTRATION',
        `must be one of ${REGISTRATION_MODES.join(', ')}, got "${registration}"`,
      );
    }
    c.registration = registration as RegistrationMode;
  }
  const adminUsername = str(env, 'CARIOS_ADMIN_USERNAME')?.toLowerCase();
  if (adminUsername !== undefined && !USERNAME_PATTERN.test(adminUsername)) {
    throw new ConfigError(
      'CARIOS_ADMIN_USERNAME',
      `must be a username (2-32 characters of a-z, 0-9, _, . or -), got "${adminUsername}"`,
    );
  }
  c.adminUsername = adminUsername;

  const endpoint = url(env, 'CARIOS_S3_ENDPOINT', ['http:', 'https:']);
  const bucket = str(env, 'CARIOS_S3_BUCKET');
  const region = str(env, 'CARIOS_S3_REGION') ?? 'us-east-1';
  if (!/^[a-z0-9-]+$/.test(region))
    throw new ConfigError('CARIOS_S3_REGION', `is not a region name, got "${region}"`);
  if (bucket) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError('CARIOS_S3_BUCKET', `is not a valid bucket name, got "${bucket}"`);
    }
    const accessKey = str(env, 'CARIOS_S3_ACCESS_KEY');
    const secretKey = str(env, 'CARIOS_S3_SECRET_KEY');
    if (Boolean(accessKey) !== Boolean(secretKey)) {
      throw new ConfigError(
        accessKey ? 'CARIOS_S3_SECRET_KEY' : 'CARIOS_S3_ACCESS_KEY',
        'must be set together with its pair',
      );
    }
    c.s3 = {
      endpoint,
      publicEndpoint: url(env, 'CARIOS_S3_PUBLIC_ENDPOINT', ['http:', 'https:']) ?? endpoint,
      accessKey,
      secretKey,
      bucket,
      region,
    };
  }
  return c;
}
