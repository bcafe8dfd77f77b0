export interface PageRequest {
  limit: number;
  /** Id of the last item of the previous page (decoded cursor). */
  after?: string;
}

export interface PageResult<T> {
  items: T[];
  nextAfter: string | null;
}

/** Fetches limit+1 rows to know whether another page exists without a count query. */
export function pageArgs(page: PageRequest) {
  return {
    take: page.limit + 1,
    orderBy: { id: 'asc' as const },
    ...(page.after ? { cursor: { id: page.after }, skip: 1 } : {}),
  };
}

export function toPage<T extends { id: string }>(rows: T[], limit: number): PageResult<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextAfter: rows.length > limit && last ? last.id : null };
}
