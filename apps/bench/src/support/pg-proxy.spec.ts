import { StatementCounter } from './pg-proxy';

/** An untyped startup-phase message: length, code, payload. */
function untyped(code: number, payload = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8 + payload.length, 0);
  b.writeInt32BE(code, 4);
  return Buffer.concat([b, payload]);
}

/** A typed message: type byte, length (without the type byte), payload. */
function typed(type: string, payload = Buffer.from('x\0')): Buffer {
  const b = Buffer.alloc(5);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + payload.length, 1);
  return Buffer.concat([b, payload]);
}

describe('StatementCounter', () => {
  const session = Buffer.concat([
    untyped(80877103), // SSLRequest, refused by the server; the StartupMessage follows
    untyped(196608, Buffer.from('user\0postgres\0\0')),
    typed('p', Buffer.from('password\0')),
    typed('Q', Buffer.from('BEGIN\0')),
    typed('P'),
    typed('B'),
    typed('D'),
    typed('E', Buffer.from('\0\0\0\0\0')),
    typed('S', Buffer.alloc(0)),
    typed('Q', Buffer.from('SELECT 1; SELECT 2\0')),
    typed('X', Buffer.alloc(0)),
  ]);

  it('counts simple queries and extended executes, nothing else', () => {
    const c = new StatementCounter();
    c.feed(session);
    expect(c.statements).toBe(3);
  });

  it('counts the same however the stream is cut', () => {
    for (const size of [1, 3, 7, 64]) {
      const c = new StatementCounter();
      for (let i = 0; i < session.length; i += size) c.feed(session.subarray(i, i + size));
      expect(c.statements).toBe(3);
    }
  });
});
