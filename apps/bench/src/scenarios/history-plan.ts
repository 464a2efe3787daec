/** A node of `EXPLAIN (FORMAT JSON)`. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Scan Direction'?: string;
  Plans?: PlanNode[];
}

/**
 * Checks that the page is an ordered walk stopped by its LIMIT: `messages` read by a backward
 * index scan right under the Limit (no Sort of the channel's rows), either as a range of the
 * (channel_id, id) index or as a walk of the primary key that filters by channel (which the
 * planner picks while the channel is a large share of the table: it then reads about limit /
 * share rows, and the verdict says so); and that neither messages nor message_reactions is
 * scanned sequentially.
 */
export function judgePlan(root: PlanNode): { ok: boolean; node: string; verdict: string } {
  const problems: string[] = [];
  let page: PlanNode | undefined;
  const visit = (n: PlanNode, parent: PlanNode | undefined) => {
    if (n['Node Type'] === 'Seq Scan' && /^(messages|message_reactions)$/.test(n['Relation Name'] ?? ''))
      problems.push(`Seq Scan on ${n['Relation Name']}`);
    if (n['Relation Name'] === 'messages' && n['Node Type'] !== 'Seq Scan') {
      page = n;
      if (parent?.['Node Type'] !== 'Limit')
        problems.push(`messages read under ${parent?.['Node Type'] ?? 'nothing'}, not a Limit`);
    }
    for (const c of n.Plans ?? []) visit(c, n);
  };
  visit(root, undefined);
  const node = page
    ? `${page['Node Type']} ${page['Scan Direction'] ?? ''} using ${page['Index Name'] ?? '-'}`
    : 'none';
  let how = '';
  if (!page) problems.push('no index scan of messages');
  else {
    const cond = page['Index Cond'] ?? '';
    if (page['Scan Direction'] !== 'Backward') problems.push(`direction ${page['Scan Direction'] ?? 'none'}`);
    if (page['Index Name'] === 'messages_channel_id_id_idx' && /channel_id = .*id < /.test(cond))
      how = 'a range of (channel_id, id)';
    else if (page['Index Name'] === 'messages_pkey' && /id < /.test(cond))
      how =
        'the primary key walked back, other channels filtered out (the channel is a large share of the table)';
    else problems.push(`index ${page['Index Name'] ?? 'none'} with Index Cond ${cond || 'none'}`);
  }
  const ok = problems.length === 0;
  return {
    ok,
    node,
    verdict: ok
      ? `OK: ${node}: ${how}, right under the LIMIT; no Seq Scan of messages or reactions`
      : `NOT OK: ${problems.join('; ')}`,
  };
}
