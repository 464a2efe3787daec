import { printTable, ratio } from './report';

describe('printTable', () => {
  let out: string[];
  beforeEach(() => {
    out = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  it('prints a value and a ratio column per baseline, in order', () => {
    const table = printTable(
      't',
      [
        {
          metric: 'msg/s',
          value: 500,
          baseline: 1000,
          ratio: ratio(500, 1000),
          more: [{ baseline: 2000, ratio: ratio(500, 2000) }],
        },
      ],
      ['raw pg', 'socket.io'],
    );
    const [header, , row] = table.split('\n').slice(2);
    expect(header!.split('|').map((c) => c.trim())).toEqual([
      '',
      'metric',
      'server',
      'raw pg',
      'vs raw pg',
      'socket.io',
      'vs socket.io',
      'target',
      'note',
      '',
    ]);
    expect(
      row!
        .split('|')
        .map((c) => c.trim())
        .slice(1, 7),
    ).toEqual(['msg/s', '500', '1,000', '0.50x', '2,000', '0.25x']);
    expect(out.join('')).toContain(table);
  });

  it('keeps the one-baseline layout for scenarios with a single baseline', () => {
    const table = printTable('t', [{ metric: 'm', value: 1, baseline: 2, ratio: ratio(1, 2) }]);
    expect(table.split('\n')[2]).toMatch(/^\| metric +\| server \| baseline \| ratio \| target \| note \|$/);
  });
});
