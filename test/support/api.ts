import { randomBytes } from 'node:crypto';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

/** A tiny HTTP client for the REST API: JSON in, JSON out, bearer token optional. */
export class Api {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  as(token: string | undefined): Api {
    return new Api(this.baseUrl, token);
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    opts: { headers?: Record<string, string>; raw?: string | Buffer } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | Buffer | undefined = opts.raw;
    if (body !== undefined && payload === undefined) {
      payload = JSON.stringify(body);
    }
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body);
  }
  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }
}

/** Factory: a unique, valid username. */
export function username(prefix = 'u'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export interface TestUser {
  id: string;
  username: string;
  token: string;
  api: Api;
  isAdmin: boolean;
}

/** Factory: registers a user and returns a client authenticated as them. */
export async function registerUser(
  api: Api,
  overrides: { username?: string; password?: string; displayName?: string } = {},
): Promise<TestUser> {
  const name = overrides.username ?? username();
  const res = await api.post('/api/v1/auth/register', {
    username: name,
    password: overrides.password ?? 'password123',
    ...(overrides.displayName ? { displayName: overrides.displayName } : {}),
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  const token = res.body.token as string;
  return {
    id: res.body.user.id,
    username: res.body.user.username,
    token,
    api: api.as(token),
    isAdmin: res.body.user.isAdmin,
  };
}

/** Asserts the contract's error shape and returns the code. */
export function expectError(res: ApiResponse, status: number, code?: string): void {
  expect({ status: res.status, text: res.text }).toEqual({ status, text: expect.any(String) });
  expect(res.body).toEqual({
    error: {
      code: code ?? expect.stringMatching(/^[a-z_]+$/),
      message: expect.any(String),
      details: expect.any(Array),
    },
  });
}
