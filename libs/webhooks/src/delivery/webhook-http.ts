import * as http from 'node:http';
import * as https from 'node:https';
import type { GuardedAgents } from './ssrf-guard';
import { isGuardRefusal } from './ssrf-guard';

export const CONNECT_TIMEOUT_MS = 5_000;
export const TOTAL_TIMEOUT_MS = 15_000;
/** At most this much of a response is read; the rest is cut off with the connection. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

export type HttpResult =
  | { kind: 'response'; status: number; retryAfter: string | undefined }
  | { kind: 'timeout'; error: string }
  | { kind: 'refused'; error: string }
  | { kind: 'error'; error: string };

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * One POST. Redirects are not followed (a 3xx is a failure like any non-2xx). 5 s to connect,
 * 15 s in all, headers and body included; at most 64 KiB of the response is read, so a slow or
 * endless body costs a bounded buffer and is cut off with its connection. The answer's status
 * decides the outcome even when its body is cut off.
 */
export function postWebhook(agents: GuardedAgents, request: WebhookRequest): Promise<HttpResult> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      resolve({ kind: 'error', error: 'invalid URL' });
      return;
    }
    const secure = url.protocol === 'https:';
    let settled = false;
    let status: number | undefined;
    let retryAfter: string | undefined;
    const finish = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      resolve(result);
    };
    const req = (secure ? https : http).request({
      protocol: url.protocol,
      // WHATWG URL parsing already turned 2130706433, 0x7f.1 or 017700000001 into 127.0.0.1.
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      agent: secure ? agents.https : agents.http,
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(request.body)),
        'user-agent': 'Cariosan-Webhooks/1',
      },
    });
    const total = setTimeout(() => {
      // A status already in hand decides; the rest of the body is not waited for.
      finish(
        status !== undefined
          ? { kind: 'response', status, retryAfter }
          : { kind: 'timeout', error: `no answer within ${TOTAL_TIMEOUT_MS / 1000} s` },
      );
      req.destroy();
    }, TOTAL_TIMEOUT_MS);
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const connect = setTimeout(() => {
        finish({ kind: 'timeout', error: `could not connect within ${CONNECT_TIMEOUT_MS / 1000} s` });
        req.destroy();
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => clearTimeout(connect));
      socket.once('close', () => clearTimeout(connect));
    });
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      const header = res.headers['retry-after'];
      retryAfter = Array.isArray(header) ? header[0] : header;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) {
          finish({ kind: 'response', status: status!, retryAfter });
          req.destroy();
        }
      });
      res.on('end', () => finish({ kind: 'response', status: status!, retryAfter }));
      res.on('error', () => finish({ kind: 'response', status: status!, retryAfter }));
      res.on('aborted', () => finish({ kind: 'response', status: status!, retryAfter }));
    });
    req.on('error', (err) => {
      if (isGuardRefusal(err)) {
        finish({
          kind: 'refused',
          error: `refused: the address is not public (CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS is false): ${err.message}`,
        });
      } else if (status !== undefined) {
        finish({ kind: 'response', status, retryAfter });
      } else {
        finish({ kind: 'error', error: describe(err) });
      }
    });
    req.end(request.body);
  });
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message}` : err.message;
}
