// SQL for stored images and the media signing key. Every function takes the Kysely instance or a transaction first.
import type { Kysely } from 'kysely'
import type { Database, ImageRow } from '../../db/schema.ts'

type Db = Kysely<Database>

export async function insertImages(db: Db, rows: Omit<ImageRow, 'id'>[]): Promise<ImageRow[]> {
  if (rows.length === 0) return []
  return db.insertInto('sos_images').values(rows).returningAll().execute()
}

export function findImageByPath(db: Db, image: string): Promise<ImageRow | undefined> {
  return db.selectFrom('sos_images').selectAll().where('image', '=', image).executeTakeFirst()
}

export function imagesOf(db: Db, sosId: number): Promise<ImageRow[]> {
  return db.selectFrom('sos_images').selectAll().where('sos_request_id', '=', sosId).orderBy('uploaded_at', 'desc').orderBy('id', 'desc').execute()
}

/** Returns the stored value for `key`, storing `candidate` first if there is none (first writer wins). */
export async function getOrCreateSetting(db: Db, key: string, candidate: string): Promise<string> {
  await db.insertInto('app_settings').values({ key, value: candidate }).onConflict((oc) => oc.column('key').doNothing()).execute()
  const row = await db.selectFrom('app_settings').select('value').where('key', '=', key).executeTakeFirstOrThrow()
  return row.value
}

/** How many images an SOS has, and their bytes (its quota use). */
export async function imageUsage(db: Db, sosId: number): Promise<{ files: number; bytes: number }> {
  const row = await db
    .selectFrom('sos_images')
    .select((eb) => [eb.fn.countAll<string | number>().as('files'), eb.fn.sum<string | number | null>('size_bytes').as('bytes')])
    .where('sos_request_id', '=', sosId)
    .executeTakeFirstOrThrow()
  // PostgreSQL returns count/sum as strings (bigint/numeric).
  return { files: Number(row.files), bytes: Number(row.bytes ?? 0) }
}

// The SOS row lock is the SOS module's (its lifecycle steps take it too).
export { lockSos } from '../sos/sos.repository.ts'
