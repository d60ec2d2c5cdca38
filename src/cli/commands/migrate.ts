// `naarikavach migrate`: apply pending migrations and exit non-zero on failure.
import type { Config } from '../../config.ts'
import { openDatabase } from '../../db/dialect.ts'
import { migrateToLatest } from '../../db/migrator.ts'

export async function migrateCommand(config: Config): Promise<number> {
  const handle = openDatabase(config.databaseUrl, { connectTimeoutMs: config.databaseConnectTimeoutMs })
  try {
    const applied = await migrateToLatest(handle.db)
    console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date.')
    return 0
  } catch (error) {
    console.error(`Migration failed: ${(error as Error).message}`)
    return 1
  } finally {
    await handle.db.destroy()
  }
}
