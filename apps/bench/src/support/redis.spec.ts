import { commandStatsDelta, parseCommandStats, totalCalls } from './redis';

const INFO_BEFORE = [
  '# Commandstats',
  'cmdstat_publish:calls=10,usec=50,usec_per_call=5.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=4,usec=400,usec_per_call=100.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');

const INFO_AFTER = [
  '# Commandstats',
  'cmdstat_publish:calls=25,usec=120,usec_per_call=4.80,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=5,usec=150,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=4,usec=400,usec_per_call=100.00,rejected_calls=0,failed_calls=0',
  'cmdstat_client|setname:calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');

describe('Redis command counters', () => {
  it('parses INFO commandstats, subcommands included', () => {
    const stats = parseCommandStats(INFO_AFTER);
    expect(stats.get('publish')).toEqual({ calls: 25, usec: 120 });
    expect(stats.get('client|setname')).toEqual({ calls: 2, usec: 4 });
    expect(stats.size).toBe(4);
  });

  it('counts what ran between two readings, without the readings themselves or idle commands', () => {
    const delta = commandStatsDelta(parseCommandStats(INFO_BEFORE), parseCommandStats(INFO_AFTER));
    expect(Object.fromEntries(delta)).toEqual({
      publish: { calls: 15, usec: 70 },
      'client|setname': { calls: 2, usec: 4 },
    });
    expect(totalCalls(delta)).toBe(17);
  });
});
