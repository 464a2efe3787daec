import {
  AppConfig,
  ConfigError,
  loadConfig,
  parseDuration,
  parseDurationList,
  parseOrigins,
} from './app-config';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toBeInstanceOf(AppConfig);
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: 'cariosan:',
      dataDir: './data',
      s3: undefined,
      trustProxyHops: 0,
      maxUploadBytes: 26_214_400,
      webhookRetryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
      webhookDisableAfterMs: 5 * 86_400_000,
      webhookAllowPrivateNetworks: false,
      migrateOnBoot: true,
      logLevel: 'info',
      allowedOrigins: [],
      rateLimit: {
        perWindow: 600,
        anonymousPerWindow: 600,
        loginPerWindow: 10,
        loginAccountPerWindow: 30,
        postsPerWindow: 300,
        windowSeconds: 60,
        gatewayFrames: 120,
        gatewayWindowSeconds: 60,
      },
      shutdownTimeoutMs: 10_000,
      bodyLimitBytes: 262_144,
      registration: 'open',
      adminUsername: undefined,
    });
    expect(c.secrets).toEqual([]);
  });

  it('keeps presence within the contract: offline within 60 s of a killed replica (TTL + a sixth of it)', () => {
    const c = loadConfig({});
    expect(c.presenceTtlMs * (1 + 1 / 6)).toBeLessThanOrEqual(60_000);
    expect(loadConfig({ CARIOS_PRESENCE_TTL_MS: '50000' }).presenceTtlMs * (1 + 1 / 6)).toBeLessThanOrEqual(
      60_000,
    );
    expect(configError({ CARIOS_PRESENCE_TTL_MS: '50001' }).message).toContain('CARIOS_PRESENCE_TTL_MS');
    expect(c.gatewayMaxSessionsPerUser).toBe(16);
    expect(loadConfig({ CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP: '5' }).gatewayMaxUnidentifiedPerIp).toBe(5);
  });

  it('treats blank values as unset', () => {
    expect(loadConfig({ CARIOS_PORT: '  ', CARIOS_DATABASE_URL: '', CARIOS_LOG_LEVEL: ' ' })).toMatchObject({
      port: 8080,
      databaseUrl: undefined,
      logLevel: 'info',
    });
  });

  it('parses every variable', () => {
    const c = loadConfig({
      CARIOS_PORT: '9090',
      CARIOS_HOST: '127.0.0.1',
      CARIOS_DATABASE_URL: 'postgres://app:db%40pass@db:5432/chat',
      CARIOS_REDIS_URL: 'rediss://:redispass@cache:6380',
      CARIOS_REDIS_PREFIX: 'team-a:',
      CARIOS_DATA_DIR: '/var/lib/cariosan',
      CARIOS_TRUST_PROXY_HOPS: '2',
      CARIOS_MAX_UPLOAD_BYTES: '1048576',
      CARIOS_WEBHOOK_RETRY_SCHEDULE: '500ms, 1s,2m',
      CARIOS_WEBHOOK_DISABLE_AFTER: '12h',
      CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'YES',
      CARIOS_MIGRATE_ON_BOOT: 'false',
      CARIOS_LOG_LEVEL: 'DEBUG',
      CARIOS_ALLOWED_ORIGINS: 'https://chat.example.com, http://localhost:3000',
      CARIOS_RATE_LIMIT_REQUESTS: '100',
      CARIOS_RATE_LIMIT_ANONYMOUS: '50',
      CARIOS_RATE_LIMIT_LOGIN: '5',
      CARIOS_RATE_LIMIT_LOGIN_ACCOUNT: '20',
      CARIOS_RATE_LIMIT_POSTS: '7',
      CARIOS_RATE_LIMIT_WINDOW_SECONDS: '30',
      CARIOS_RATE_LIMIT_GATEWAY_FRAMES: '60',
      CARIOS_RATE_LIMIT_GATEWAY_WINDOW_SECONDS: '10',
      CARIOS_SHUTDOWN_TIMEOUT_MS: '5000',
      CARIOS_S3_ENDPOINT: 'http://minio:9000',
      CARIOS_S3_PUBLIC_ENDPOINT: 'https://files.example.com',
      CARIOS_S3_ACCESS_KEY: 'minio',
      CARIOS_S3_SECRET_KEY: 'minio-secret',
      CARIOS_S3_BUCKET: 'chat-files',
      CARIOS_S3_REGION: 'eu-west-1',
      CARIOS_REGISTRATION: 'Invite',
      CARIOS_ADMIN_USERNAME: 'Root.Admin',
    });
    expect(c).toMatchObject({
      port: 9090,
      host: '127.0.0.1',
      databaseUrl: 'postgres://app:db%40pass@db:5432/chat',
      redisUrl: 'rediss://:redispass@cache:6380',
      redisPrefix: 'team-a:',
      dataDir: '/var/lib/cariosan',
      trustProxyHops: 2,
      maxUploadBytes: 1_048_576,
      webhookRetryScheduleMs: [500, 1_000, 120_000],
      webhookDisableAfterMs: 43_200_000,
      webhookAllowPrivateNetworks: true,
      migrateOnBoot: false,
      logLevel: 'debug',
      allowedOrigins: ['https://chat.example.com', 'http://localhost:3000'],
      rateLimit: {
        perWindow: 100,
        anonymousPerWindow: 50,
        loginPerWindow: 5,
        loginAccountPerWindow: 20,
        postsPerWindow: 7,
        windowSeconds: 30,
        gatewayFrames: 60,
        gatewayWindowSeconds: 10,
      },
      shutdownTimeoutMs: 5000,
      registration: 'invite',
      adminUsername: 'root.admin',
      s3: {
        endpoint: 'http://minio:9000',
        publicEndpoint: 'https://files.example.com',
        accessKey: 'minio',
        secretKey: 'minio-secret',
        bucket: 'chat-files',
        region: 'eu-west-1',
      },
    });
    // Every secret, as written and decoded, so the log scrubber finds it however it is printed.
    expect(c.secrets.sort()).toEqual(['db%40pass', 'db@pass', 'minio-secret', 'redispass'].sort());
  });

  it('defaults the public S3 endpoint to the S3 endpoint', () => {
    const c = loadConfig({ CARIOS_S3_BUCKET: 'chat-files', CARIOS_S3_ENDPOINT: 'http://minio:9000' });
    expect(c.s3).toMatchObject({
      endpoint: 'http://minio:9000',
      publicEndpoint: 'http://minio:9000',
      region: 'us-east-1',
    });
  });

  it.each([
    ['CARIOS_PORT', 'abc'],
    ['CARIOS_PORT', '65536'],
    ['CARIOS_PORT', '-1'],
    ['CARIOS_PORT', '80.5'],
    ['CARIOS_DATABASE_URL', 'notaurl'],
    ['CARIOS_DATABASE_URL', 'mysql://db/chat'],
    ['CARIOS_REDIS_URL', 'http://cache:6379'],
    ['CARIOS_REDIS_PREFIX', 'has space'],
    ['CARIOS_TRUST_PROXY_HOPS', '11'],
    ['CARIOS_MAX_UPLOAD_BYTES', '0'],
    ['CARIOS_WEBHOOK_RETRY_SCHEDULE', '5x'],
    ['CARIOS_WEBHOOK_RETRY_SCHEDULE', '5s,,5m'],
    ['CARIOS_WEBHOOK_DISABLE_AFTER', '5 days'],
    ['CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS', 'sure'],
    ['CARIOS_MIGRATE_ON_BOOT', '2'],
    ['CARIOS_LOG_LEVEL', 'verbose'],
    ['CARIOS_ALLOWED_ORIGINS', 'chat.example.com'],
    ['CARIOS_ALLOWED_ORIGINS', 'https://chat.example.com/app'],
    ['CARIOS_ALLOWED_ORIGINS', 'https://chat.example.com?x=1'],
    ['CARIOS_ALLOWED_ORIGINS', 'ws://chat.example.com'],
    ['CARIOS_ALLOWED_ORIGINS', 'https://user:pw@chat.example.com'],
    ['CARIOS_RATE_LIMIT_REQUESTS', '0'],
    ['CARIOS_RATE_LIMIT_WINDOW_SECONDS', '86401'],
    ['CARIOS_SHUTDOWN_TIMEOUT_MS', '1e4'],
    ['CARIOS_S3_ENDPOINT', 'ftp://files'],
    ['CARIOS_S3_REGION', 'EU West'],
    ['CARIOS_REGISTRATION', 'public'],
    ['CARIOS_ADMIN_USERNAME', 'a'],
    ['CARIOS_ADMIN_USERNAME', 'ada lovelace'],
  ])('refuses %s=%p and names it', (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    expect(err.message).not.toContain('\n');
  });

  it('checks the S3 bucket name and key pair', () => {
    expect(configError({ CARIOS_S3_BUCKET: 'Bad_Bucket' }).variable).toBe('CARIOS_S3_BUCKET');
    expect(configError({ CARIOS_S3_BUCKET: 'chat-files', CARIOS_S3_ACCESS_KEY: 'k' }).variable).toBe(
      'CARIOS_S3_SECRET_KEY',
    );
    expect(
      configError({ CARIOS_S3_BUCKET: 'chat-files', CARIOS_S3_SECRET_KEY: 'never-shown' }).variable,
    ).toBe('CARIOS_S3_ACCESS_KEY');
  });

  it('never echoes a URL it refuses (it may carry a password)', () => {
    const err = configError({ CARIOS_DATABASE_URL: 'postgres://u:Hunter2Secret@ho st/db' });
    expect(err.message).not.toContain('Hunter2Secret');
    const bad = configError({ CARIOS_S3_BUCKET: 'chat-files', CARIOS_S3_SECRET_KEY: 'never-shown' });
    expect(bad.message).not.toContain('never-shown');
  });
});

describe('origins', () => {
  it.each([
    ['https://chat.example.com/', 'https://chat.example.com'],
    ['https://Chat.Example.COM', 'https://chat.example.com'],
    ['HTTPS://chat.example.com:443/', 'https://chat.example.com'],
    ['http://localhost:3000/', 'http://localhost:3000'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('normalises %p to the Origin a browser sends (%p)', (raw, origin) => {
    expect(parseOrigins('X', raw)).toEqual([origin]);
  });

  it('keeps the order, drops blanks and duplicates', () => {
    expect(parseOrigins('X', ' https://b.example, ,https://a.example/,https://B.example ')).toEqual([
      'https://b.example',
      'https://a.example',
    ]);
    expect(parseOrigins('X', undefined)).toEqual([]);
  });

  it('matches a browser Origin when configured with a trailing slash', () => {
    const c = loadConfig({ CARIOS_ALLOWED_ORIGINS: 'https://chat.example.com/' });
    expect(c.allowedOrigins.includes('https://chat.example.com')).toBe(true);
  });
});

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['5d', 432_000_000],
    [' 10h ', 36_000_000],
    ['0s', 0],
  ])('parses %p as %d ms', (raw, ms) => {
    expect(parseDuration('X', raw)).toBe(ms);
  });

  it.each(['5', '5x', '-5s', '1.5h', 's', '5 s', '5S', ''])('refuses %p', (raw) => {
    expect(() => parseDuration('CARIOS_X', raw)).toThrow(/CARIOS_X/);
  });

  it('parses lists and refuses empty entries', () => {
    expect(parseDurationList('X', '1s, 2m ,3h')).toEqual([1_000, 120_000, 10_800_000]);
    expect(() => parseDurationList('CARIOS_X', '')).toThrow(/CARIOS_X/);
    expect(() => parseDurationList('CARIOS_X', '1s,')).toThrow(/CARIOS_X/);
  });
});

describe('attachment and browser settings', () => {
  it('defaults: a day of grace, no CORS origins, no public URL', () => {
    expect(loadConfig({})).toMatchObject({
      uploadGracePeriodMs: 86_400_000,
      corsOrigins: [],
      publicUrl: undefined,
    });
  });

  it('parses them', () => {
    expect(
      loadConfig({
        CARIOS_UPLOAD_GRACE_PERIOD: '2h',
        CARIOS_CORS_ORIGINS: 'https://Chat.Example.com/, http://localhost:3000',
        CARIOS_PUBLIC_URL: 'https://chat.example.com/',
      }),
    ).toMatchObject({
      uploadGracePeriodMs: 7_200_000,
      corsOrigins: ['https://chat.example.com', 'http://localhost:3000'],
      publicUrl: 'https://chat.example.com',
    });
  });

  it('refuses bad values, naming the variable', () => {
    expect(configError({ CARIOS_UPLOAD_GRACE_PERIOD: 'soon' }).variable).toBe('CARIOS_UPLOAD_GRACE_PERIOD');
    expect(configError({ CARIOS_UPLOAD_GRACE_PERIOD: '500ms' }).variable).toBe('CARIOS_UPLOAD_GRACE_PERIOD');
    expect(configError({ CARIOS_CORS_ORIGINS: 'chat.example.com' }).variable).toBe('CARIOS_CORS_ORIGINS');
    expect(configError({ CARIOS_PUBLIC_URL: 'ftp://x' }).variable).toBe('CARIOS_PUBLIC_URL');
  });
});
