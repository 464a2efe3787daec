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
 * Checks that the page is read as a backward range of the (channel_id, id) index right under
 * its LIMIT (no Sort of the channel's rows, no walk of the primary key filtering by channel),
 * and that neither messages nor message_reactions is scanned sequentially.
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
  if (!page) problems.push('no index scan of messages');
  else {
    if (page['Index Name'] !== 'messages_channel_id_id_idx')
      problems.push(`index ${page['Index Name'] ?? 'none'}`);
    if (page['Scan Direction'] !== 'Backward') problems.push(`direction ${page['Scan Direction'] ?? 'none'}`);
    if (!/channel_id = .*id < /.test(page['Index Cond'] ?? ''))
      problems.push(`Index Cond ${page['Index Cond'] ?? 'none'}`);
  }
  const ok = problems.length === 0;
  return {
    ok,
    node,
    verdict: ok
      ? `OK: ${node} with Index Cond channel_id = .. AND id < .. right under the LIMIT; no Seq Scan of messages or reactions`
      : `NOT OK: ${problems.join('; ')}`,
  };
}
