// Limit/offset paging of list endpoints, DRF's LimitOffsetPagination: `?limit=&offset=` → `{count, next, previous, results}`.
import { FieldReader } from './fields.ts'

export interface Page {
  limit: number
  offset: number
}

export const MAX_PAGE = 1000

/** Undefined without `?limit=` (the list is a plain array then, as the original's lists). */
export function parsePage(query: Record<string, unknown>): Page | undefined {
  if (query.limit === undefined) return undefined
  const fields = new FieldReader(query)
  const limit = fields.integer('limit', { min: 1, max: MAX_PAGE })
  const offset = fields.integer('offset', { required: false, min: 0, max: 2_147_483_647 }) ?? 0
  fields.done()
  return { limit: limit!, offset }
}

export function pageLinks(page: Page, count: number, url: (offset: number) => string): { next: string | null; previous: string | null } {
  return {
    next: page.offset + page.limit < count ? url(page.offset + page.limit) : null,
    previous: page.offset > 0 ? url(Math.max(0, page.offset - page.limit)) : null,
  }
}
