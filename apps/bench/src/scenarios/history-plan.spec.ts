import { judgePlan, type PlanNode } from './history-plan';

const pageScan = (over: Partial<PlanNode> = {}): PlanNode => ({
  'Node Type': 'Index Scan',
  'Relation Name': 'messages',
  'Index Name': 'messages_channel_id_id_idx',
  'Scan Direction': 'Backward',
  'Index Cond': '((channel_id = $1) AND (id < $2))',
  ...over,
});

const withPage = (page: PlanNode, between = 'Limit'): PlanNode => ({
  'Node Type': 'Aggregate',
  Plans: [
    { 'Node Type': between, Plans: [page] },
    {
      'Node Type': 'Index Scan',
      'Relation Name': 'message_reactions',
      'Index Name': 'message_reactions_pkey',
      'Scan Direction': 'Forward',
    },
  ],
});

describe('judgePlan', () => {
  it('accepts a backward range of (channel_id, id) right under the Limit', () => {
    const v = judgePlan(withPage(pageScan()));
    expect(v.ok).toBe(true);
    expect(v.node).toBe('Index Scan Backward using messages_channel_id_id_idx');
  });

  it('accepts a backward walk of the primary key under the Limit, and says what it is', () => {
    const v = judgePlan(withPage(pageScan({ 'Index Name': 'messages_pkey', 'Index Cond': '(id < $2)' })));
    expect(v.ok).toBe(true);
    expect(v.verdict).toContain('primary key walked back');
  });

  it('refuses an index that does not bound the page by id', () => {
    const v = judgePlan(
      withPage(pageScan({ 'Index Name': 'messages_parent_id_id_idx', 'Index Cond': '(parent_id = $1)' })),
    );
    expect(v.ok).toBe(false);
    expect(v.verdict).toContain('messages_parent_id_id_idx');
  });

  it('refuses a page sorted instead of read in index order', () => {
    const v = judgePlan(withPage(pageScan({ 'Scan Direction': 'Forward' }), 'Sort'));
    expect(v.ok).toBe(false);
    expect(v.verdict).toContain('not a Limit');
  });

  it('refuses a sequential scan of the reactions', () => {
    const plan = withPage(pageScan());
    plan.Plans!.push({ 'Node Type': 'Seq Scan', 'Relation Name': 'message_reactions' });
    expect(judgePlan(plan).verdict).toContain('Seq Scan on message_reactions');
  });
});
