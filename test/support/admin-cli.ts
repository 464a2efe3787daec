import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { SERVER_ENTRY } from './server';

/** The admin command of the same build as the server under test. */
export const ADMIN_ENTRY = resolve(SERVER_ENTRY, '../admin.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `admin.js <args>` with the stack's environment, as an operator would from the server's shell. */
export function runAdmin(env: Record<string, string>, args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [ADMIN_ENTRY, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        CARIOS_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => resolvePromise({ code, stdout, stderr }));
    proc.stdin.end(stdin ?? '');
  });
}
