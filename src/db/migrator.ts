// Applies the frozen migrations in order; throws (so the CLI exits non-zero) on any failure.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import * as initial from './migrations/20261123_0001_initial.ts'
import * as incidentLog from './migrations/20261202_0002_incident_log.ts'
import * as contacts from './migrations/20261202_0005_contacts.ts'
import type { Database } from './schema.ts'

// Listed explicitly (not read from disk) so the set is the same under tsx, a bundle or a test.
const MIGRATIONS: Record<string, Migration> = {
  '20261123_0001_initial': initial,
  '20261202_0002_incident_log': incidentLog,
  '20261202_0005_contacts': contacts,
}

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS }

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider })
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? 'unknown error')
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${reason}`)
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
