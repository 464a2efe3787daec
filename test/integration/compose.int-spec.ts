import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * docker-compose.yml as an operator meets it: without a .env (or with .env.example as shipped)
 * `docker compose config` fails naming the missing secret instead of running with known
 * passwords; with the example filled in it passes, with pinned images, ports on CARIOSAN_BIND,
 * limits and rotated logs on every service. Needs the docker-compose binary (CI installs it).
 */
const ROOT = resolve(__dirname, '../..');
const hasCompose = spawnSync('docker-compose', ['--version']).status === 0;
const SERVICES = ['cariosan-server', 'postgres', 'redis', 'minio', 'minio-bootstrap'];

function config(envFile: string | undefined, extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cariosan-compose-'));
  try {
    // A project directory of its own: no stray .env of the checkout is read.
    copyFileSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    if (envFile !== undefined) writeFileSync(join(dir, '.env'), envFile);
    const res = spawnSync('docker-compose', ['-f', join(dir, 'docker-compose.yml'), 'config'], {
      cwd: dir,
      encoding: 'utf8',
      // Only PATH: the secrets must come from the .env file, not from whoever runs the test.
      env: { PATH: process.env.PATH ?? '', ...extraEnv },
    });
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const example = () => readFileSync(join(ROOT, '.env.example'), 'utf8');
const filled = () =>
  example()
    .replace(/^POSTGRES_PASSWORD=$/m, 'POSTGRES_PASSWORD=0123456789abcdef0123456789abcdef')
    .replace(/^MINIO_ROOT_USER=$/m, 'MINIO_ROOT_USER=a1b2c3d4e5f6a1b2c3d4e5f6')
    .replace(/^MINIO_ROOT_PASSWORD=$/m, 'MINIO_ROOT_PASSWORD=fedcba9876543210fedcba9876543210');

(hasCompose ? describe : describe.skip)('docker-compose.yml', () => {
  it('refuses to run without a .env, naming the missing secret and how to make one', () => {
    const res = config(undefined);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(
      /set (POSTGRES_PASSWORD|MINIO_ROOT_USER|MINIO_ROOT_PASSWORD) in \.env \(openssl rand/,
    );
  });

  it('refuses .env.example as shipped: its secrets are blank', () => {
    expect(example()).toMatch(/^POSTGRES_PASSWORD=$/m);
    expect(example()).toMatch(/^MINIO_ROOT_PASSWORD=$/m);
    const res = config(example());
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/in \.env \(openssl rand/);
    // Each secret on its own is required.
    for (const name of ['POSTGRES_PASSWORD', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD']) {
      const missingOne = config(filled().replace(new RegExp(`^${name}=.*$`, 'm'), `${name}=`));
      expect({ name, status: missingOne.status === 0 }).toEqual({ name, status: false });
      expect(missingOne.stderr).toContain(`set ${name} in .env`);
    }
  });

  it('passes with the example filled in: pinned images, ports on CARIOSAN_BIND, limits and log rotation', () => {
    const res = config(filled());
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.status).toBe(0);
    const out = res.stdout;
    expect(out).toContain('image: quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z');
    expect(out).toContain('image: quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z');
    expect(out).not.toMatch(/image: minio\//);
    expect(out).toContain(
      'CARIOS_DATABASE_URL: postgres://cariosan:0123456789abcdef0123456789abcdef@postgres:5432/cariosan',
    );
    // Published on loopback by default: 127.0.0.1:8080 and 127.0.0.1:9000 only.
    expect([...out.matchAll(/^ {4}- (\S+):(?:8080|9000):(?:8080|9000)\/tcp$/gm)].map((m) => m[1])).toEqual([
      '127.0.0.1',
      '127.0.0.1',
    ]);
    for (const service of SERVICES) expect(out).toContain(`\n  ${service}:\n`);
    expect(out.match(/max-size: 10m/g)).toHaveLength(SERVICES.length);
    expect(out.match(/mem_limit: /g)).toHaveLength(SERVICES.length);
  });

  it('publishes on another address and uses other MinIO images when .env says so', () => {
    const res = config(
      `${filled()}\nCARIOSAN_BIND=0.0.0.0\nMINIO_IMAGE=example.org/s3:1\nMC_IMAGE=example.org/mc:1\n`,
    );
    expect(res.status).toBe(0);
    expect(
      [...res.stdout.matchAll(/^ {4}- (\S+):(?:8080|9000):(?:8080|9000)\/tcp$/gm)].map((m) => m[1]),
    ).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(res.stdout).toContain('image: example.org/s3:1');
    expect(res.stdout).toContain('image: example.org/mc:1');
  });
});
