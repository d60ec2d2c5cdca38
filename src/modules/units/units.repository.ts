// SQL for officers' last known unit positions.
import type { Kysely } from 'kysely'
import type { Database, UnitLocationRow } from '../../db/schema.ts'

export async function upsertUnitLocation(db: Kysely<Database>, row: UnitLocationRow): Promise<void> {
  await db
    .insertInto('unit_locations')
    .values(row)
    .onConflict((oc) =>
      oc.column('unit_number').doUpdateSet({ latitude: row.latitude, longitude: row.longitude, timestamp: row.timestamp, updated_by: row.updated_by }),
    )
    .execute()
}

export function findUnitLocation(db: Kysely<Database>, unitNumber: string): Promise<UnitLocationRow | undefined> {
  return db.selectFrom('unit_locations').selectAll().where('unit_number', '=', unitNumber).executeTakeFirst()
}

/** Units' last known positions, most recently reported first. */
export function listUnitLocations(db: Kysely<Database>, limit: number): Promise<UnitLocationRow[]> {
  return db.selectFrom('unit_locations').selectAll().orderBy('timestamp', 'desc').orderBy('unit_number').limit(limit).execute()
}
